// Rating in place: a rating is saved without reloading the page, the parts it changes are put
// in place, what is typed is kept in this browser until it is saved, keys 1-5 choose a level,
// and "next unrated" moves to the question. Without this script every form still posts.
(function () {
  "use strict";
  var questions = document.getElementById("questions");
  if (!questions || !window.fetch || !window.DOMParser) {
    return;
  }
  var assessment = questions.getAttribute("data-assessment");
  var user = questions.getAttribute("data-user");
  var prefix = "qmm-draft:" + user + ":" + assessment + ":";
  var timers = {};

  function store() {
    try {
      return window.localStorage;
    } catch (e) {
      return null;
    }
  }

  function typed(form) {
    var picked = form.querySelector('input[name="score"]:checked');
    var refs = [];
    form.querySelectorAll('input[name="evidence_ref"]:checked').forEach(function (box) {
      refs.push(box.value);
    });
    var rationale = form.querySelector('textarea[name="rationale"]');
    var evidence = form.querySelector('input[name="evidence"]');
    return {
      score: picked ? picked.value : "",
      rationale: rationale ? rationale.value : "",
      evidence: evidence ? evidence.value : "",
      refs: refs
    };
  }

  function unsaved(form, draft) {
    return draft.score !== form.getAttribute("data-saved-score") ||
      draft.rationale !== form.getAttribute("data-saved-rationale");
  }

  function note(form, html, alert) {
    var place = form.querySelector(".draft-note");
    if (!place) {
      return;
    }
    place.innerHTML = html;
    place.setAttribute("role", alert ? "alert" : "status");
    place.className = "draft-note " + (alert ? "error-message" : "hint");
  }

  function keepDraft(form) {
    var code = form.getAttribute("data-question");
    var draft = typed(form);
    var kept = store();
    if (!kept) {
      return;
    }
    if (!unsaved(form, draft)) {
      kept.removeItem(prefix + code);
      return;
    }
    draft.at = new Date().toISOString();
    kept.setItem(prefix + code, JSON.stringify(draft));
    note(form, "Draft kept in this browser at " + draft.at.slice(11, 16) + " UTC; not saved yet.", false);
  }

  function dropDraft(code) {
    var kept = store();
    if (kept) {
      kept.removeItem(prefix + code);
    }
  }

  function restore(form) {
    var kept = store();
    var code = form.getAttribute("data-question");
    var text = kept && kept.getItem(prefix + code);
    if (!text) {
      return;
    }
    var draft;
    try {
      draft = JSON.parse(text);
    } catch (e) {
      dropDraft(code);
      return;
    }
    if (!unsaved(form, draft)) {
      dropDraft(code);
      return;
    }
    form.querySelectorAll('input[name="score"]').forEach(function (radio) {
      radio.checked = radio.value === draft.score;
    });
    var rationale = form.querySelector('textarea[name="rationale"]');
    if (rationale) {
      rationale.value = draft.rationale;
    }
    var evidence = form.querySelector('input[name="evidence"]');
    if (evidence) {
      evidence.value = draft.evidence || "";
    }
    form.querySelectorAll('input[name="evidence_ref"]').forEach(function (box) {
      box.checked = (draft.refs || []).indexOf(box.value) >= 0;
    });
    var details = form.closest("details");
    if (details) {
      details.open = true;
    }
    note(form, "What you typed at " + String(draft.at || "").slice(11, 16) +
      " UTC was not saved yet and is back in the form: check it and save.", false);
  }

  function reveal(code, focus) {
    var article = document.getElementById("q-" + code);
    if (!article) {
      return false;
    }
    var details = article.closest("details");
    if (details) {
      details.open = true;
    }
    article.scrollIntoView({ block: "start" });
    if (focus) {
      var radio = article.querySelector('input[name="score"]:checked') ||
        article.querySelector('input[name="score"]');
      if (radio) {
        radio.focus({ preventScroll: true });
      }
    }
    return true;
  }

  function questionLink(code) {
    var here = new URL(window.location.href);
    here.searchParams.delete("rated");
    here.searchParams.delete("agreed");
    here.searchParams.set("question", code);
    return here.pathname + here.search + "#q-" + code;
  }

  function signInLink(code) {
    return "/login?next=" + encodeURIComponent(questionLink(code));
  }

  function putInPlace(part) {
    Array.prototype.slice.call(part.children).forEach(function (fresh) {
      var old = fresh.id && document.getElementById(fresh.id);
      if (old) {
        old.replaceWith(document.importNode(fresh, true));
      }
    });
  }

  function save(form, button) {
    var code = form.getAttribute("data-question");
    window.clearTimeout(timers[code]);
    keepDraft(form);
    button.disabled = true;
    var label = button.textContent;
    button.textContent = "Saving…";
    return fetch(form.action, {
      method: "POST",
      body: new URLSearchParams(new FormData(form)),
      headers: { "X-QMM-Part": "rating" },
      credentials: "same-origin",
      redirect: "follow"
    }).then(function (response) {
      if (response.status === 401) {
        note(form, "Your session has ended, so this rating was not saved. What you typed is kept " +
          'in this browser: <a href="' + signInLink(code) + '">sign in again</a> and it will be ' +
          "back in the form.", true);
        return null;
      }
      return response.text().then(function (html) {
        if (response.status === 403 && html.indexOf("security token") >= 0) {
          note(form, "This page is out of date (you signed in again elsewhere?), so the rating " +
            "was not saved. What you typed is kept in this browser: " +
            '<a href="' + questionLink(code) + '">open the question again</a> and save.', true);
          return;
        }
        var part = new DOMParser().parseFromString(html, "text/html")
          .querySelector('[data-part="rating"]');
        if (!part) {
          form.submit(); // not an answer this script knows: let the page show it
          return;
        }
        if (response.ok) {
          dropDraft(code);
        }
        document.querySelectorAll(".question .notice-ok").forEach(function (told) {
          told.remove(); // an earlier save's notice: its "next" may be stale now
        });
        putInPlace(part);
        var article = document.getElementById("q-" + code);
        var told = article && article.querySelector('[role="status"], [role="alert"]');
        if (told) {
          told.setAttribute("tabindex", "-1");
          told.focus({ preventScroll: false });
        }
      });
    }).catch(function () {
      note(form, "The rating could not be sent (no connection?). What you typed is kept in " +
        "this browser; save again in a moment.", true);
    }).finally(function () {
      if (document.body.contains(button)) {
        button.disabled = false;
        button.textContent = label;
      }
    });
  }

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!(form instanceof HTMLFormElement) || !form.classList.contains("rating-form")) {
      return;
    }
    event.preventDefault();
    var button = form.querySelector('button[type="submit"]');
    save(form, button);
  });

  document.addEventListener("input", function (event) {
    var form = event.target.closest && event.target.closest(".rating-form");
    if (!form) {
      return;
    }
    var code = form.getAttribute("data-question");
    window.clearTimeout(timers[code]);
    timers[code] = window.setTimeout(function () {
      keepDraft(form);
    }, 300);
  });

  document.addEventListener("click", function (event) {
    var link = event.target.closest && event.target.closest("a[data-next-question]");
    if (!link || event.ctrlKey || event.metaKey || event.shiftKey) {
      return;
    }
    if (reveal(link.getAttribute("data-next-question"), true)) {
      event.preventDefault();
      window.history.replaceState(null, "", link.href);
    }
  });

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey || !/^[1-5]$/.test(event.key)) {
      return;
    }
    var target = event.target;
    if (!target.closest || target.matches("textarea, select, input[type=text], input:not([type])")) {
      return;
    }
    var form = target.closest(".rating-form");
    var radio = form && form.querySelector('input[name="score"][value="' + event.key + '"]');
    if (radio) {
      event.preventDefault();
      radio.checked = true;
      radio.focus();
      keepDraft(form);
    }
  });

  document.querySelectorAll(".js-only").forEach(function (hint) {
    hint.hidden = false;
  });
  document.querySelectorAll(".rating-form").forEach(restore);
  var match = /^#q-(.+)$/.exec(window.location.hash);
  if (match) {
    reveal(decodeURIComponent(match[1]), false);
  }
})();
