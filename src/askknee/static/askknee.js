// askknee chat page: what Gradio does not do by itself. Served inline in the page's <head>.
(() => {
  const LIMIT = __LIMIT__;
  const NOTICE = __NOTICE__;
  const shown = new WeakSet();
  const BOT = "#askknee-chat .message.bot, #askknee-chat [data-testid='bot']";

  // Each new reply is shown from its first line (not scrolled to its end, where the disclaimer
  // and the follow-ups are); on a phone the header then folds away to give the chat the room.
  function showNewReply() {
    const replies = document.querySelectorAll(BOT);
    const last = replies[replies.length - 1];
    if (!last || shown.has(last)) return;
    shown.add(last);
    if (document.querySelectorAll("#askknee-chat .message.user, #askknee-chat [data-testid='user']").length) {
      document.body.classList.add("askknee-started");
      last.scrollIntoView({ block: "start" });
    }
  }

  // Back in the text box once it takes input again, ready for the next question, the reply in view.
  let refocus = false;
  function restoreFocus() {
    const box = document.querySelector("#askknee-input textarea");
    if (refocus && box && !box.disabled && document.activeElement !== box) {
      box.focus({ preventScroll: true });
      refocus = !(document.activeElement === box);
    }
  }

  // The text box: focus back after sending, and a count of characters once a message nears what
  // the reply reads.
  function setUpInput() {
    const box = document.querySelector("#askknee-input textarea");
    if (!box || box.dataset.askknee) return;
    box.dataset.askknee = "1";
    const form = box.closest("#askknee-input");
    const count = document.createElement("div");
    count.id = "askknee-count";
    count.setAttribute("aria-live", "polite");
    form.appendChild(count);  // inside the text box's block: a sibling would take half the input row
    const update = () => {
      const n = box.value.length;
      count.textContent = n > LIMIT * 0.8 ? `${n} / ${LIMIT}` + (n > LIMIT ? ` · ${NOTICE}` : "") : "";
      count.classList.toggle("askknee-over", n > LIMIT);
    };
    const sent = () => { refocus = true; setTimeout(update, 60); };
    box.addEventListener("input", update);
    box.addEventListener("keydown", (e) => { if (e.key === "Enter" && !e.shiftKey) sent(); });
    document.addEventListener("click", (e) => { if (e.target.closest(".submit-button")) sent(); });
  }

  // Gradio's send button is an icon without a name a screen reader can say.
  function labelSend() {
    document.querySelectorAll(".submit-button:not([aria-label])").forEach((b) => b.setAttribute("aria-label", "Send"));
  }

  new MutationObserver(() => { setUpInput(); labelSend(); showNewReply(); restoreFocus(); })
    .observe(document.documentElement, { childList: true, subtree: true, attributes: true,
                                         attributeFilter: ["disabled"] });
})();
