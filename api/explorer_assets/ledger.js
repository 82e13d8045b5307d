// Stock and money around one saga: what it moved, read from its own events, against the levels now.
// Conservation shows in the totals: copies move between available, reserved and sold, never appear or vanish;
// what a customer's balance lost is what the saga charged, net of refunds.

import { get, segment } from "./api.js";
import { h } from "./dom.js";

const BALANCE = { credit_card: "creditAvailable", e_money: "eMoneyBalance" };
const signed = (n) => (n > 0 ? `+${n}` : n < 0 ? `−${-n}` : "0");
const money = (n) => n.toLocaleString("en");

export function movements(events) {
  const stock = { available: 0, reserved: 0, sold: 0 };
  let charged = 0;
  for (const { eventType, payload } of events) {
    if (eventType === "StockLevelChanged") {
      stock.available += payload.availableDelta;
      stock.reserved += payload.reservedDelta;
      stock.sold += payload.soldDelta;
    } else if (eventType === "FundsDebited") charged += payload.amount;
    else if (eventType === "FundsCredited") charged -= payload.amount;
  }
  return { stock, charged };
}

export async function ledger(order, events) {
  const moved = movements(events);
  const [book, customer] = await Promise.all([
    get(`/inventory/${segment(order.bookId)}`),
    get(`/customers/${segment(order.customerId)}`),
  ]);
  const now = { available: book.availableStock, reserved: book.reservedStock, sold: book.soldStock };
  const before = Object.fromEntries(Object.entries(now).map(([key, value]) => [key, value - moved.stock[key]]));
  const total = (levels) => levels.available + levels.reserved + levels.sold;
  const balanceField = BALANCE[order.paymentMethod] || "creditAvailable";
  const balance = customer[balanceField];
  const expected = order.status === "COMPLETED" ? order.totalAmount : order.status === "CANCELLED" ? 0 : null;
  const copies = total(before) === total(now);
  return h(
    "section",
    { class: "ledger", "aria-label": "Stock and money" },
    h("h3", {}, "Stock and money"),
    h("table", { class: "stock", "data-conserved": String(copies) },
      h("caption", {}, `${book.title} (${book.bookId}): copies`),
      h("thead", {}, h("tr", {}, h("th", {}, ""), ...["available", "reserved", "sold", "in all"].map((n) => h("th", { scope: "col" }, n)))),
      h("tbody", {},
        levelRow("before this saga", before, total(before)),
        h("tr", { class: "delta" }, h("th", { scope: "row" }, "moved by it"),
          ...["available", "reserved", "sold"].map((key) => h("td", {}, signed(moved.stock[key]))),
          h("td", {}, signed(total(now) - total(before)))),
        levelRow("now", now, total(now)))),
    h("p", { class: copies ? "ok" : "warn" }, copies ? "✓ No copy appeared or vanished: the total is unchanged." : "⚠ The total changed."),
    h("table", { class: "money" },
      h("caption", {}, `${customer.name} (${customer.customerId}): ${order.paymentMethod.replace("_", " ")}`),
      h("tbody", {},
        h("tr", {}, h("th", { scope: "row" }, "balance before this saga"), h("td", {}, money(balance + moved.charged))),
        h("tr", { class: "delta" }, h("th", { scope: "row" }, "charged, net of refunds"), h("td", {}, money(moved.charged))),
        h("tr", {}, h("th", { scope: "row" }, "balance now"), h("td", {}, money(balance))))),
    expected !== null &&
      h("p", { class: moved.charged === expected ? "ok" : "warn", "data-net": moved.charged },
        moved.charged === expected
          ? `✓ A ${order.status.toLowerCase()} order nets ${money(expected)}: the customer paid ${money(moved.charged)}.`
          : `⚠ The customer paid ${money(moved.charged)}, expected ${money(expected)}.`),
    h("p", { class: "note" }, "“Before” is now less what this saga moved; a later order of the same book or customer shows in both."),
  );
}

function levelRow(name, levels, total) {
  return h("tr", {}, h("th", { scope: "row" }, name), h("td", {}, levels.available), h("td", {}, levels.reserved),
    h("td", {}, levels.sold), h("td", {}, total));
}
