// One colour per name (service or source), the same on every page: a hash of the name picks a hue.
(function () {
  "use strict";
  const PALETTE = ["#3b6fd8", "#d9822b", "#2e9e6a", "#9b59b6", "#c2457a", "#1f9bb0", "#b59a1f", "#6b7c93",
                   "#5c6bc0", "#8d6e63", "#43a047", "#e65f5c"];
  function colourOf(name) {
    let hash = 0;
    for (let i = 0; i < name.length; i++) hash = (hash * 31 + name.charCodeAt(i)) >>> 0;
    return PALETTE[hash % PALETTE.length];
  }
  window.Eventscope = Object.assign(window.Eventscope || {}, { colourOf });
  // Server-rendered service chips get their colour here (inline styles are not allowed by the CSP).
  document.querySelectorAll("[data-service]").forEach((node) => {
    node.style.borderLeftColor = colourOf(node.dataset.service);
  });
})();
