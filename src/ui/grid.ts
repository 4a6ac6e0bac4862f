// A table of rows that stays fast on 1,000 columns and 10,000 rows: rows are shown a page
// at a time, and only the columns in view (plus a few) are in the DOM.
import { cellText, fill, h } from './dom.ts';

export interface GridColumn {
  name: string;
  type?: string;
}

export interface SortKey {
  column: string;
  order: 'asc' | 'desc';
}

export interface GridOptions {
  columns: GridColumn[];
  rows: Record<string, unknown>[];
  pageSize?: number;
  /** When set, the header offers sorting and per-column filters. */
  sort?: SortKey | null;
  filters?: Map<string, string>;
  onSort?: (sort: SortKey | null) => void;
  onFilter?: (column: string, text: string) => void;
  /** Rows matching on the server, when more than `rows` (a preview's total_row_count). */
  total?: number;
}

const COLUMN_WIDTH = 168;
const OVERSCAN = 4;

export class Grid {
  readonly el: HTMLElement;
  private page = 0;
  private first = -1;
  private last = -1;
  private readonly scroller: HTMLElement;
  private readonly table: HTMLTableElement;
  private readonly pager: HTMLElement;
  private frame = 0;
  /** Filter text typed but not applied yet: kept when the header is rebuilt on scroll. */
  private readonly drafts = new Map<string, string>();

  constructor(private readonly options: GridOptions) {
    this.pager = h('div', { class: 'pager' });
    this.table = h('table', { class: 'grid' });
    this.table.style.width = `${options.columns.length * COLUMN_WIDTH + 64}px`;
    this.scroller = h('div', { class: 'grid-scroll', tabindex: 0 }, this.table);
    this.scroller.addEventListener('scroll', () => {
      if (this.frame) return;
      this.frame = requestAnimationFrame(() => {
        this.frame = 0;
        this.render(false);
      });
    });
    this.el = h('div', { class: 'grid-wrap' }, this.pager, this.scroller);
    // Sizes are known once the grid is in the page.
    requestAnimationFrame(() => this.render(false));
    this.render(true);
  }

  get pageSize(): number {
    return this.options.pageSize ?? 100;
  }

  get pageCount(): number {
    return Math.max(1, Math.ceil(this.options.rows.length / this.pageSize));
  }

  goTo(page: number): void {
    this.page = Math.min(Math.max(0, page), this.pageCount - 1);
    this.scroller.scrollTop = 0;
    this.render(true);
  }

  private render(force: boolean): void {
    const { columns } = this.options;
    const width = this.scroller.clientWidth || 1024;
    const left = Math.max(0, this.scroller.scrollLeft - 64);
    const first = Math.max(0, Math.floor(left / COLUMN_WIDTH) - OVERSCAN);
    const last = Math.min(columns.length, Math.ceil((left + width) / COLUMN_WIDTH) + OVERSCAN);
    if (!force && first === this.first && last === this.last) return;
    this.first = first;
    this.last = last;
    this.renderPager();
    const visible = columns.slice(first, last);
    const spacer = (count: number, tag: 'th' | 'td') => {
      if (count <= 0) return null;
      const cell = h(tag, { class: 'spacer', 'aria-hidden': 'true' });
      cell.style.width = `${count * COLUMN_WIDTH}px`;
      return cell;
    };
    const head = h('tr', {}, h('th', { class: 'rownum' }, '#'), spacer(first, 'th'), visible.map((c) => this.headerCell(c)), spacer(columns.length - last, 'th'));
    const start = this.page * this.pageSize;
    const rows = this.options.rows.slice(start, start + this.pageSize);
    const body = rows.map((row, i) =>
      h(
        'tr',
        {},
        h('td', { class: 'rownum' }, String(start + i + 1)),
        spacer(first, 'td'),
        visible.map((c) => {
          const value = row[c.name];
          const text = cellText(value);
          return h('td', { class: value === null || value === undefined ? 'null' : typeof value === 'number' ? 'num' : null, title: text.length > 40 ? text.slice(0, 2000) : null }, value === null ? 'null' : text.slice(0, 300));
        }),
        spacer(columns.length - last, 'td'),
      ),
    );
    const empty = rows.length === 0 ? h('tr', {}, h('td', { class: 'empty', colspan: String(visible.length + 3) }, 'No rows')) : null;
    // Rebuilding the header must not take the cursor out of a filter being typed.
    const active = document.activeElement;
    const typing = active instanceof HTMLInputElement && this.table.contains(active) ? active.closest('th')?.getAttribute('data-column') : null;
    fill(this.table, h('thead', {}, head), h('tbody', {}, body, empty));
    if (typing) {
      const input = [...this.table.querySelectorAll<HTMLInputElement>('th input.filter')].find((el) => el.closest('th')?.getAttribute('data-column') === typing);
      input?.focus();
    }
  }

  private headerCell(column: GridColumn): HTMLElement {
    const th = h('th', { 'data-column': column.name });
    th.style.width = `${COLUMN_WIDTH}px`;
    const { onSort, onFilter, sort, filters } = this.options;
    const label = h('span', { class: 'col-name', title: column.name }, column.name);
    if (onSort) {
      const order = sort?.column === column.name ? sort.order : null;
      const next: SortKey | null = order === null ? { column: column.name, order: 'asc' } : order === 'asc' ? { column: column.name, order: 'desc' } : null;
      th.appendChild(
        h('button', { class: 'sort', type: 'button', title: `Sort by ${column.name}`, 'aria-sort': order ? `${order}ending` : 'none', onclick: () => onSort(next) }, label, order === 'asc' ? ' ▲' : order === 'desc' ? ' ▼' : ''),
      );
    } else th.appendChild(label);
    if (column.type) th.appendChild(h('span', { class: 'col-type' }, column.type));
    if (onFilter) {
      const input = h('input', {
        class: 'filter',
        type: 'search',
        placeholder: 'filter: =, >, !=, null…',
        'aria-label': `Filter ${column.name}`,
        value: this.drafts.get(column.name) ?? filters?.get(column.name) ?? '',
      });
      input.addEventListener('input', () => this.drafts.set(column.name, input.value));
      input.addEventListener('keydown', (event) => {
        if (event.key === 'Enter') onFilter(column.name, input.value);
      });
      th.appendChild(input);
    }
    return th;
  }

  private renderPager(): void {
    const { rows, total } = this.options;
    const start = rows.length === 0 ? 0 : this.page * this.pageSize + 1;
    const end = Math.min(rows.length, (this.page + 1) * this.pageSize);
    const of = total !== undefined && total > rows.length ? `${rows.length.toLocaleString('en')} loaded of ${total.toLocaleString('en')}` : rows.length.toLocaleString('en');
    fill(
      this.pager,
      h('button', { type: 'button', class: 'page-first', disabled: this.page === 0, onclick: () => this.goTo(0), 'aria-label': 'First page' }, '«'),
      h('button', { type: 'button', class: 'page-prev', disabled: this.page === 0, onclick: () => this.goTo(this.page - 1), 'aria-label': 'Previous page' }, '‹'),
      h('span', { class: 'page-info' }, `Rows ${start}–${end} of ${of} · page ${this.page + 1}/${this.pageCount}`),
      h('button', { type: 'button', class: 'page-next', disabled: this.page >= this.pageCount - 1, onclick: () => this.goTo(this.page + 1), 'aria-label': 'Next page' }, '›'),
      h('button', { type: 'button', class: 'page-last', disabled: this.page >= this.pageCount - 1, onclick: () => this.goTo(this.pageCount - 1), 'aria-label': 'Last page' }, '»'),
      h('span', { class: 'col-info' }, `${this.options.columns.length.toLocaleString('en')} columns`),
    );
  }
}

/** Filter text typed in a column header → a §8 filter (`>5`, `!=x`, `null`, `!null`, `in:a,b`, `x`). */
export function parseFilter(column: string, text: string): { column: string; operator: string; values: unknown[] } | null {
  const t = text.trim();
  if (!t) return null;
  if (/^(is )?null$/i.test(t)) return { column, operator: 'is_null', values: [] };
  if (/^(!|not )null$/i.test(t)) return { column, operator: 'not_null', values: [] };
  const inList = /^(not_in|in):(.*)$/i.exec(t);
  if (inList) return { column, operator: inList[1]!.toLowerCase(), values: inList[2]!.split(',').map((v) => v.trim()) };
  const match = /^(>=|<=|!=|<>|=|>|<)\s*(.*)$/.exec(t);
  if (match) {
    const ops: Record<string, string> = { '>=': 'ge', '<=': 'le', '!=': 'ne', '<>': 'ne', '=': 'eq', '>': 'gt', '<': 'lt' };
    return { column, operator: ops[match[1]!]!, values: [match[2]] };
  }
  return { column, operator: 'eq', values: [t] };
}
