// Lux dashboard: progressive enhancement only. Every page works without this file; with it the
// session view follows the session live and the synthesis slider updates in place.
"use strict";

const FRAGMENT_HEADER = "X-Lux-Fragment";

// Swaps the live region for a fresh server rendering of `url`, keeping the scroll position.
async function refresh(region, url) {
  const response = await fetch(url, { headers: { [FRAGMENT_HEADER]: "1" }, credentials: "same-origin" });
  if (!response.ok) return false;
  const known = new Set([...region.querySelectorAll("li.step")].map((step) => step.id));
  region.innerHTML = await response.text();
  for (const step of region.querySelectorAll("li.step")) {
    if (!known.has(step.id)) step.classList.add("fresh");
  }
  enhance(region);
  return true;
}

// Forms marked `data-fragment` (the synthesis slider) re-render the region instead of the page.
function enhance(region) {
  for (const form of region.querySelectorAll("form[data-fragment]")) {
    const range = form.querySelector("input[type=range]");
    const output = form.querySelector("[data-version-output]");
    const submit = async (event) => {
      if (event) event.preventDefault();
      const url = new URL(form.action, location.href);
      url.search = new URLSearchParams(new FormData(form)).toString();
      url.hash = "synthesis";
      if (await refresh(region, url.toString())) history.replaceState(null, "", url);
    };
    form.addEventListener("submit", submit);
    if (range) {
      range.addEventListener("input", () => { if (output) output.textContent = `${range.value} of ${range.max}`; });
      range.addEventListener("change", () => submit());
    }
  }
}

function follow(region) {
  const status = document.querySelector("[data-live-status]");
  const source = new EventSource(region.dataset.live);
  let pending = null;
  source.addEventListener("open", () => {
    if (status) { status.textContent = "live"; status.classList.add("on"); }
  });
  source.addEventListener("error", () => {
    if (status) { status.textContent = "reconnecting…"; status.classList.remove("on"); }
  });
  // A burst of writes (a step, its findings, a synthesis) becomes one refresh.
  source.addEventListener("message", () => {
    if (pending) return;
    pending = setTimeout(async () => {
      pending = null;
      // Follow the newest synthesis unless the reader picked a version.
      const url = new URL(location.href);
      await refresh(region, url.toString());
    }, 120);
  });
}

document.addEventListener("DOMContentLoaded", () => {
  const region = document.querySelector("[data-live]");
  if (!region) return;
  enhance(region);
  if (window.EventSource) follow(region);
});
