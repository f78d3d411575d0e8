// Admin actions that wait on a provider (test connection, sync models) can take
// seconds: the button says what is happening and cannot be pressed twice.
document.addEventListener("submit", (event) => {
  const form = event.target;
  const button = form.querySelector("button[data-busy]");
  if (!button || event.defaultPrevented) return;
  form.setAttribute("aria-busy", "true");
  button.disabled = true;
  button.classList.add("busy");
  button.textContent = button.dataset.busy;
});
