// The reading view: a link to #L12-L40 marks those lines (the anchor itself needs no script).
function markLines() {
  document.querySelectorAll(".line.marked").forEach((el) => el.classList.remove("marked"));
  const m = /^#L(\d+)(?:-L(\d+))?$/.exec(window.location.hash);
  if (!m) return;
  const first = Number(m[1]);
  const last = m[2] ? Number(m[2]) : first;
  for (let n = first; n <= last; n++) {
    const el = document.getElementById("L" + n);
    if (el) el.classList.add("marked");
  }
}
window.addEventListener("hashchange", markLines);
document.addEventListener("DOMContentLoaded", markLines);
