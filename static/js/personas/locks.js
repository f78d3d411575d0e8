// Only a parameter the persona gives a value can be fixed for its users: while a
// parameter's value is empty, its "users may change" box stays ticked and cannot
// be unticked. The server ignores a lock on an empty parameter all the same
// (Persona.locked_params); this keeps the form from promising one.

function lockRows(table) {
  return Array.from(table.tBodies[0].rows, (row) => ({
    value: row.cells[1] && row.cells[1].querySelector("input, textarea, select"),
    box: row.cells[2] && row.cells[2].querySelector("input[type=checkbox]"),
  })).filter((row) => row.value && row.box);
}

function sync({ value, box }) {
  const empty = value.value.trim() === "";
  if (empty) box.checked = true;
  box.disabled = empty;
}

function start() {
  const table = document.querySelector(".param-table");
  if (!table) return;
  const rows = lockRows(table);
  for (const row of rows) {
    sync(row);
    row.value.addEventListener("input", () => sync(row));
  }
  // A disabled box is not sent; an empty parameter is open, so send it ticked.
  table.closest("form").addEventListener("submit", () => {
    for (const { box } of rows) box.disabled = false;
  });
}

start();
