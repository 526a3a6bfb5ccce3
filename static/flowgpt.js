// FlowGPT admin: confirmations and reading a token file into the textarea. Everything works without it,
// except that destructive buttons then act without asking and the file button stays hidden.
'use strict';

for (const element of document.querySelectorAll('[data-needs-script]')) element.hidden = false;

document.addEventListener('submit', (event) => {
  const form = event.target;
  const question = form.dataset.confirm;
  if (question && !window.confirm(question)) {
    event.preventDefault();
    return;
  }
  for (const button of form.querySelectorAll('button[type="submit"]:not(:disabled)')) {
    button.disabled = true;
    button.dataset.busy = '';
  }
});

// A page restored from the back/forward cache keeps the buttons a submit disabled.
window.addEventListener('pageshow', () => {
  for (const button of document.querySelectorAll('button[data-busy]')) {
    button.disabled = false;
    delete button.dataset.busy;
  }
});

document.addEventListener('change', async (event) => {
  const input = event.target;
  if (!(input instanceof HTMLInputElement) || input.type !== 'file' || !input.dataset.fill) return;
  const target = document.getElementById(input.dataset.fill);
  const file = input.files && input.files[0];
  if (!target || !file) return;
  const text = (await file.text()).trim();
  target.value = target.value.trim() ? `${target.value.trim()}\n${text}` : text;
  input.value = '';
  target.focus();
});
