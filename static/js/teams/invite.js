// The copy button next to a fresh invitation link. The link is in a read-only
// field, so it can also be selected by hand where the clipboard is refused.

function start() {
  const button = document.getElementById("copy-invite");
  const field = document.getElementById("invite-link");
  if (!button || !field) return;
  const label = button.textContent;
  button.addEventListener("click", async () => {
    field.select();
    try {
      await navigator.clipboard.writeText(field.value);
      button.textContent = button.dataset.copied;
      setTimeout(() => {
        button.textContent = label;
      }, 2000);
    } catch {
      // No clipboard (an insecure origin, a refusal): the text stays selected.
    }
  });
}

start();
