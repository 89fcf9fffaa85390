/* Niceties for the Studio pages (templates/studio*.html); every form there works without this file.
   - forms with data-confirm ask before they are sent (deleting an AI)
   - the avatar chosen for an AI is previewed before it is saved
   - a note file chosen on the knowledge tab names the note when no title was typed */
(function () {
  "use strict";

  function start() {
    document.querySelectorAll("form[data-confirm]").forEach(function (form) {
      form.addEventListener("submit", function (event) {
        if (!window.confirm(form.dataset.confirm)) event.preventDefault();
      });
    });

    const avatar = document.getElementById("ai-avatar");
    const preview = document.getElementById("ai-avatar-preview");
    if (avatar && preview) {
      avatar.addEventListener("change", function () {
        const file = avatar.files && avatar.files[0];
        if (!file || !/^image\//.test(file.type)) return;
        const reader = new FileReader();
        reader.addEventListener("load", function () {
          const img = document.createElement("img");
          img.className = "avatar studio-avatar";
          img.alt = "";
          img.width = 40;
          img.height = 40;
          img.src = String(reader.result); // a data: URL, which the page's policy allows for images
          preview.replaceChildren(img);
        });
        reader.readAsDataURL(file);
      });
    }

    const noteFile = document.getElementById("note-file");
    const noteTitle = document.getElementById("note-title");
    if (noteFile && noteTitle) {
      noteFile.addEventListener("change", function () {
        const file = noteFile.files && noteFile.files[0];
        if (file && !noteTitle.value.trim()) noteTitle.value = file.name.replace(/\.[^.]+$/, "");
      });
    }
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
