// HTTP calls to the JSON endpoints, with Django's CSRF token.

function csrfToken() {
  const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
  return match ? decodeURIComponent(match[1]) : "";
}

export async function request(method, url, body, options = {}) {
  const response = await fetch(url, {
    method,
    credentials: "same-origin",
    keepalive: options.keepalive || false,
    headers: {
      "Content-Type": "application/json",
      "X-CSRFToken": csrfToken(),
      Accept: "application/json",
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (response.status === 204) return null;
  const data = await response.json().catch(() => ({}));
  if (!response.ok) {
    const error = new Error((data.error && data.error.message) || response.statusText);
    error.code = data.error && data.error.code;
    error.status = response.status;
    throw error;
  }
  return data;
}

export const getJSON = (url) => request("GET", url);
