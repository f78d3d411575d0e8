// The URLs the chat page uses, all from the boot data: the server builds them
// with reverse() (so they follow the URL configuration and the site's prefix),
// and none is written by hand in the scripts. A URL for one conversation is a
// template holding the placeholder id `urls.id`, replaced here by a real one.
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export class Urls {
  constructor(urls) {
    Object.assign(this, urls);
  }

  // The page that opens a conversation.
  page(id) {
    return this.conversation.replace(this.id, id);
  }

  // The JSON endpoint of one conversation (read, change, delete).
  detail(id) {
    return this.conversation_detail.replace(this.id, id);
  }

  // The owner's page for sharing a conversation read-only.
  sharePage(id) {
    return this.share.replace(this.id, id);
  }

  // The export page with one conversation already chosen.
  exportPage(id) {
    return `${this.export}?selected=${encodeURIComponent(id)}`;
  }

  // The conversation a page path opens, or null for any other page.
  pageId(path) {
    const [before, after] = this.conversation.split(this.id);
    if (!path.startsWith(before) || !path.endsWith(after)) return null;
    const id = path.slice(before.length, path.length - after.length);
    return UUID.test(id) ? id : null;
  }
}
