// The report page draws its table first; the funnel (a count over every matching record, slow with
// millions of them) is fetched afterwards as server-rendered HTML and put in its place.
const section = document.getElementById("funnel");
const body = document.getElementById("funnel-body");
if (section && body) {
  fetch(section.dataset.src, { credentials: "same-origin", headers: { Accept: "text/html" } })
    .then((response) => {
      if (response.redirected) throw new Error("signed out"); // to the login page
      return response.text().then((html) => ({ ok: response.ok, html }));
    })
    .then(({ ok, html }) => {
      // Our own server's fragment, escaped there like every page; a failure shows its message.
      body.innerHTML = html;
      section.classList.toggle("failed", !ok);
    })
    .catch(() => {
      body.textContent = "The funnel could not be loaded; reload the page to try again.";
    });
}
