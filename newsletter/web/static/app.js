// AcademicHub: progressive enhancement only. Pages work without this file.
(function () {
  "use strict";
  document.documentElement.classList.remove("no-js");
  document.documentElement.classList.add("js");

  function lines(textarea) {
    return textarea.value.split(/\r?\n/).map(function (s) { return s.trim(); }).filter(Boolean);
  }

  // --- topic chips: the chips write back into the plain textareas the server reads ---
  function setupChips(box, onChange) {
    var list = box.querySelector(".chip-list");
    var kind = box.querySelector(".chip-kind");
    var input = box.querySelector(".chip-input");
    var add = box.querySelector(".chip-add-button");
    var fields = {};
    ["keywords", "categories", "authors", "sources"].forEach(function (name) {
      fields[name] = box.querySelector('textarea[name="' + name + '"]');
    });
    var removeLabel = list.getAttribute("data-remove-label") || "Remove {value}";

    function render() {
      list.textContent = "";
      Object.keys(fields).forEach(function (name) {
        var prefix = list.getAttribute("data-label-" + name);
        lines(fields[name]).forEach(function (value) {
          var li = document.createElement("li");
          li.className = "chip chip-kind-" + name;
          var text = document.createElement("span");
          text.textContent = prefix ? prefix.replace("{value}", value) : value;  // "Author: {value}"
          var button = document.createElement("button");
          button.type = "button";
          button.textContent = "\u00d7";
          button.setAttribute("aria-label", removeLabel.replace("{value}", value));
          button.addEventListener("click", function () {
            fields[name].value = lines(fields[name]).filter(function (v) { return v !== value; }).join("\n");
            render(); onChange();
          });
          li.appendChild(text); li.appendChild(button); list.appendChild(li);
        });
      });
    }
    function addChip() {
      var value = input.value.trim().replace(/\s+/g, " ");
      if (!value) return false;
      var field = fields[kind.value];
      var current = lines(field);
      if (current.map(function (v) { return v.toLowerCase(); }).indexOf(value.toLowerCase()) < 0) {
        current.push(value);
        field.value = current.join("\n");
      }
      input.value = "";
      render(); onChange();
      return true;
    }
    kind.addEventListener("change", function () {
      // Journals: the browser searches the catalogue's names and fields as one types.
      var lists = { categories: "arxiv-categories", sources: "journal-list" };
      if (lists[kind.value]) input.setAttribute("list", lists[kind.value]);
      else input.removeAttribute("list");
      var example = kind.options[kind.selectedIndex].getAttribute("data-placeholder");
      if (example) input.placeholder = example;
    });
    input.addEventListener("keydown", function (event) {
      if (event.key === "Enter") { event.preventDefault(); addChip(); }
    });
    add.addEventListener("click", function () { addChip(); input.focus(); });
    var form = box.closest("form");
    if (form) form.addEventListener("submit", function () { addChip(); });
    render();
    return fields;
  }

  // --- live preview of matching papers, "show another batch" ---
  function setupPreview(section, fields, excludes) {
    var list = section.querySelector(".cards");
    var batch = section.querySelector("[data-batch]");
    var page = parseInt(section.getAttribute("data-page"), 10) || 1;
    var hasMore = true;
    function query(p) {
      var params = new URLSearchParams();
      Object.keys(fields).forEach(function (name) {
        lines(fields[name]).forEach(function (v) { params.append(name, v); });
      });
      if (excludes) excludes.value.split(/[,;\n，；]+/).map(function (s) { return s.trim(); })
        .filter(Boolean).forEach(function (v) { params.append("excludes", v); });
      params.set("page", String(p));
      params.set("lang", document.documentElement.lang.slice(0, 2));  // `why` in the page's words
      return "/api/preview?" + params.toString();
    }
    function show(data) {
      list.textContent = "";
      var empty = section.querySelector(".empty");
      if (empty) empty.remove();
      data.papers.forEach(function (paper) {
        var li = document.createElement("li"); li.className = "card";
        var meta = document.createElement("p"); meta.className = "card-meta"; meta.textContent = paper.heading;
        var h = document.createElement("h3"); h.className = "card-title";
        if (paper.url) {
          var a = document.createElement("a"); a.href = paper.url; a.rel = "noopener noreferrer";
          a.textContent = paper.title; h.appendChild(a);
        } else { h.textContent = paper.title; }
        var abs = document.createElement("p"); abs.className = "card-abstract"; abs.textContent = paper.abstract;
        li.appendChild(meta); li.appendChild(h); li.appendChild(abs);
        if (paper.why) {
          var why = document.createElement("p"); why.className = "card-reason";
          why.textContent = paper.why;
          li.appendChild(why);
        }
        list.appendChild(li);
      });
      if (!data.papers.length) {
        var p = document.createElement("p"); p.className = "empty";
        p.textContent = section.getAttribute("data-empty"); section.appendChild(p);
      }
      page = data.page; hasMore = data.has_more;
    }
    var latest = 0;  // only the newest request may draw (typing fires several)
    function load(p) {
      var ticket = ++latest;
      clearTimeout(timer);
      section.setAttribute("aria-busy", "true");
      return fetch(query(p), { headers: { Accept: "application/json" }, credentials: "same-origin" })
        .then(function (r) { if (!r.ok) throw new Error(String(r.status)); return r.json(); })
        .then(function (data) { if (ticket === latest) show(data); })
        .catch(function () { /* keep the current cards */ })
        .finally(function () { if (ticket === latest) section.removeAttribute("aria-busy"); });
    }
    var timer = null;
    function refresh() { clearTimeout(timer); timer = setTimeout(function () { load(1); }, 300); }
    if (batch) batch.addEventListener("click", function (event) {
      event.preventDefault(); load(hasMore ? page + 1 : 1);
    });
    if (excludes) excludes.addEventListener("input", refresh);
    return refresh;
  }

  function setupTimezone() {
    var tz = document.querySelector("[data-detect-timezone]");
    if (!tz || !window.Intl) return;
    try {
      var zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
      if (zone && tz.value === "UTC") tz.value = zone;
    } catch (e) { /* keep UTC */ }
  }

  function setupWeekday() {
    var box = document.querySelector("[data-weekday]");
    if (!box) return;
    var radios = document.querySelectorAll('input[name="frequency"]');
    function sync() {
      var weekly = document.querySelector('input[name="frequency"][value="weekly"]');
      box.hidden = !(weekly && weekly.checked);
    }
    radios.forEach(function (r) { r.addEventListener("change", sync); });
    sync();
  }

  document.addEventListener("DOMContentLoaded", function () {
    var refresh = function () {};
    var section = document.querySelector("[data-preview]");
    var chipBox = document.querySelector("[data-chips]");
    var onChange = function () { refresh(); };
    var fields = chipBox ? setupChips(chipBox, onChange) : null;
    if (section && fields) refresh = setupPreview(section, fields, document.getElementById("excludes"));
    setupTimezone();
    setupWeekday();
  });
})();
