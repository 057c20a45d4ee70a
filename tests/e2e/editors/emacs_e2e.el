;;; emacs_e2e.el --- drives refute.el in real Emacs (batch) against the real server  -*- lexical-binding: t; -*-
;; Run by test_emacs.py: emacs --batch -l emacs_e2e.el
;; Environment: REFUTE_E2E_SNIPPET (a file holding the documented init snippet, as
;; written in docs/editors.md), REFUTE_E2E_REPO, REFUTE_E2E_ROOT (workspace copy),
;; REFUTE_E2E_CMD (server command, JSON list), REFUTE_E2E_SETTINGS (JSON object),
;; REFUTE_E2E_LOG (each passed step, so a failure shows how far it got).
;; Exits 0 when every check passed, 1 with the reason otherwise.

(require 'json)
(require 'cl-lib)

(defvar e2e-log-file (getenv "REFUTE_E2E_LOG"))
(defun e2e-step (fmt &rest args)
  (let ((line (apply #'format fmt args)))
    (with-temp-buffer
      (insert line "\n")
      (append-to-file (point-min) (point-max) e2e-log-file))))

(defun e2e-fail (fmt &rest args)
  (let ((msg (apply #'format fmt args)))
    (e2e-step "FAIL: %s" msg)
    (message "FAIL: %s" msg)
    (kill-emacs 1)))

(defun e2e-wait (seconds what pred)
  "Let the server talk (timers and process output run) until PRED holds."
  (let ((deadline (+ (float-time) seconds)) value)
    (while (and (not (setq value (funcall pred))) (< (float-time) deadline))
      (accept-process-output nil 0.05))
    (or value (e2e-fail "timed out after %ss waiting for %s" seconds what))))

(defun e2e-json-env (name)
  (let ((json-object-type 'plist) (json-array-type 'list) (json-key-type 'keyword))
    (json-read-from-string (getenv name))))

(condition-case err
    (let* ((root (file-name-as-directory (getenv "REFUTE_E2E_ROOT")))
           (app (expand-file-name "app.py" root))
           (more (expand-file-name "lib/more.py" root))
           (messages nil)
           (updates nil)
           run-id)
      (with-temp-buffer (write-region "" nil e2e-log-file))
      ;; 1. The documented snippet, as written (the load-path placeholder filled in).
      (load (getenv "REFUTE_E2E_SNIPPET") nil t)
      (e2e-step "snippet loaded: refute %s, eglot %s" (featurep 'refute)
                (if (boundp 'eglot--version) eglot--version (locate-library "eglot")))
      ;; What differs on a test machine: the server executable and the scripted provider.
      (setq refute-server-command (append (e2e-json-env "REFUTE_E2E_CMD") nil)
            refute-settings (e2e-json-env "REFUTE_E2E_SETTINGS")
            eglot-sync-connect t
            eglot-confirm-server-initiated-edits nil)
      (add-hook 'refute-run-updates-hook (lambda (u) (push u updates)))
      (advice-add 'message :before (lambda (fmt &rest args)
                                     (when fmt (push (apply #'format-message fmt args) messages))))
      ;; 2. Visiting a Python file starts eglot through the snippet's hook (eglot-ensure
      ;; connects after the command that visited the file: run that hook as the command
      ;; loop would).
      (find-file app)
      (unless (eq major-mode 'python-mode) (e2e-fail "app.py is in %s" major-mode))
      (run-hooks 'post-command-hook)
      (e2e-wait 30 "eglot to connect" (lambda () (and (eglot-current-server) eglot--managed-mode)))
      (e2e-step "connected: %s" (plist-get (eglot--server-info (eglot-current-server)) :name))
      (pcase (getenv "REFUTE_E2E_SCENARIO")
        ("budget"
         ;; Issue 12: a run the budget stops says how to go on; a larger budget resumes it.
         (setq run-id (refute-ask "what does average do?"))
         (e2e-wait 60 "the run to end budget_reached"
                   (lambda () (equal (plist-get (gethash run-id refute-runs) :status) "budget_reached")))
         (let ((told (cl-find-if (lambda (m) (string-match-p (concat "refute-resume-with-budget " run-id) m)) messages)))
           (unless told (e2e-fail "no budget message in %S" (seq-take messages 10)))
           (e2e-step "budget reached, told: %s" told))
         (refute-resume-with-budget run-id "tokens=500000")
         (e2e-wait 60 "the resumed run to complete"
                   (lambda () (equal (plist-get (gethash run-id refute-runs) :status) "completed")))
         (let ((info (cl-find-if (lambda (r) (equal (plist-get r :id) run-id)) (refute--runs))))
           (e2e-step "resumed: %s, budget %s tokens" (plist-get info :status)
                     (plist-get (plist-get info :budget) :tokens)))
         (e2e-step "PASS")
         (kill-emacs 0))
        ("continue"
         ;; Issue 13: a partial audit names M-x refute-continue, which covers the rest.
         (let ((chain (list (refute-audit "workspace"))) (complete nil) (rounds 0))
           (while (and (not complete) (< rounds 5))
             (setq rounds (1+ rounds) run-id (car chain))
             (e2e-wait 60 (format "run %s to complete" run-id)
                       (lambda () (equal (plist-get (gethash run-id refute-runs) :status) "completed")))
             (let* ((info (cl-find-if (lambda (r) (equal (plist-get r :id) run-id)) (refute--runs)))
                    (result (plist-get info :result)))
               (setq complete (eq (plist-get result :complete) t))
               (e2e-step "run %d %s: complete=%s covered=%s continues=%s" rounds run-id complete
                         (plist-get result :covered) (plist-get (plist-get info :args) :continues))
               (when (and (= rounds 1) complete) (e2e-fail "the first audit should be partial: %S" result))
               (when (and (> rounds 1) (not (equal (plist-get (plist-get info :args) :continues) (cadr chain))))
                 (e2e-fail "not a continuation of %s: %S" (cadr chain) (plist-get info :args)))
               (unless complete
                 (e2e-wait 10 "the partial-audit message"
                           (lambda () (cl-find-if (lambda (m) (string-match-p (concat "refute-continue " run-id) m))
                                                  messages)))
                 (push (refute-continue run-id) chain))))
           (unless complete (e2e-fail "never complete after %d runs" rounds))
           (e2e-step "complete after %d continuation(s)" (1- (length chain))))
         (e2e-step "PASS")
         (kill-emacs 0)))
      ;; 3. M-x refute-audit over the workspace.
      (setq run-id (refute-audit "workspace"))
      (unless run-id (e2e-fail "refute-audit returned no run id"))
      (e2e-step "audit started: %s" run-id)
      (e2e-wait 90 "the run to complete (refute/runUpdate)"
                (lambda () (equal (plist-get (gethash run-id refute-runs) :status) "completed")))
      (let ((live (cl-find-if (lambda (u) (equal (plist-get u :status) "running")) updates)))
        (unless live (e2e-fail "no live update while running: %S" updates))
        (e2e-step "progress while running: %s" (refute--describe live)))
      (let ((ended (cl-find-if (lambda (m) (string-prefix-p "refute audit completed" m)) messages)))
        (unless ended (e2e-fail "no end-of-run message in %S" (seq-take messages 10)))
        (e2e-step "echo area: %s" ended))
      ;; 4. Diagnostics arrive in the buffer (Flymake) and for the unvisited lib/more.py.
      (e2e-wait 30 "two refute diagnostics in app.py"
                (lambda () (= 2 (length (cl-remove-if-not
                                         (lambda (d) (string-match-p "refuters confirmed" (flymake-diagnostic-text d)))
                                         (flymake-diagnostics))))))
      (e2e-step "diagnostics in app.py: %s"
                (mapconcat #'flymake-diagnostic-text (flymake-diagnostics) " | "))
      (e2e-wait 10 "lib/more.py's finding in flymake-list-only-diagnostics"
                (lambda () (assoc more flymake-list-only-diagnostics)))
      (e2e-step "unvisited file: lib/more.py has %d diagnostic(s)"
                (length (cdr (assoc more flymake-list-only-diagnostics))))
      ;; 5. A code action applies: the division finding's fix, through eglot-code-actions.
      (goto-char (point-min))
      (search-forward "return total / len(values)")
      (goto-char (match-beginning 0))
      (let ((finding (refute--finding-at-point)))
        (unless (string-prefix-p "Division by zero" (plist-get finding :message))
          (e2e-fail "finding at point: %S" finding)))
      (cl-letf (((symbol-function 'completing-read)
                 (lambda (_prompt items &rest _)
                   (or (cl-find-if (lambda (title) (string-prefix-p "refute: apply fix" title)) (mapcar #'car items))
                       (e2e-fail "no apply-fix action among %S" (mapcar #'car items))))))
        ;; As if typed (M-x ...), not clicked: eglot offers a mouse menu after a click.
        (let ((last-nonmenu-event ?\r))
          (call-interactively #'eglot-code-actions)))
      (e2e-wait 10 "the fix in the buffer"
                (lambda () (save-excursion (goto-char (point-min))
                                           (search-forward "return total / len(values) if values else 0.0" nil t))))
      (save-buffer)
      (e2e-step "code action applied: %s"
                (string-trim (nth 2 (split-string (buffer-string) "\n"))))
      ;; 6. The evidence page of the other finding, and M-x refute-findings.
      (goto-char (point-min))
      (search-forward "handle = open(path)")
      (let ((page (refute-evidence)))
        (unless (string-match-p "file-handle-is-never-closed" page) (e2e-fail "evidence page %s" page))
        (e2e-step "evidence: %s" page))
      (refute-findings)
      (e2e-step "M-x refute-findings: %s" (buffer-name (window-buffer (selected-window))))
      (e2e-step "PASS")
      (kill-emacs 0))
  (error (e2e-fail "%s" (error-message-string err))))
