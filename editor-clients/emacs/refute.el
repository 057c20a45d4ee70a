;;; refute.el --- refute's language server in Emacs, through eglot  -*- lexical-binding: t; -*-

;; Version: 0.1.0
;; Package-Requires: ((emacs "28.1") (eglot "1.9"))
;; Keywords: tools, languages

;;; Commentary:

;; refute runs LLM workflows (audits, security audits, migrations, questions) over a
;; workspace and reports what survived refuters as diagnostics.  Its editor side is
;; the language server `refute lsp'; this file connects it to eglot (Emacs >= 28) and
;; adds interactive commands, because eglot has no command palette for server
;; commands (there is no `M-x eglot-execute-command').
;;
;;   (add-to-list 'load-path "/path/to/refute/editor-clients/emacs")
;;   (require 'refute)
;;   (setq refute-settings '(:provider "anthropic" :budgetUsd 2.0))
;;   (refute-eglot-setup)
;;   (add-hook 'python-mode-hook #'eglot-ensure)
;;
;; Commands: `refute-audit', `refute-security', `refute-ask', `refute-runs',
;; `refute-cancel', `refute-resume', `refute-resume-with-budget' (a run the budget
;; stopped), `refute-continue' (an audit that left part of its scope),
;; `refute-report', `refute-findings', `refute-evidence', `refute-dismiss', `refute-fix'.  Findings are Flymake diagnostics (files never
;; visited included: `refute-findings' lists the whole project); fixes and dismissals
;; are the server's code actions (`eglot-code-actions').  Live runs show in the mode
;; line from the server's `refute/runUpdate' notifications, for runs started here,
;; from the command line or from another editor.
;;
;; Eglot runs one server per major mode and project, so each project (each root) has
;; its own refute server and `.refute' store; commands go to the current buffer's.
;; With refute on python-mode,
;; another Python server needs its own mode (or a multiplexer such as lspx).

;;; Code:

(require 'cl-lib)
(require 'eglot)
(require 'flymake)
(require 'jsonrpc)
(require 'project)
(require 'subr-x)

(defgroup refute nil
  "LLM workflows over your code, cross-checked, through eglot."
  :group 'tools
  :prefix "refute-")

(defcustom refute-server-command '("refute" "lsp")
  "Command that starts the refute language server."
  :type '(repeat string))

(defcustom refute-settings nil
  "Server settings: a plist of camelCase keys.
E.g. (:provider \"anthropic\" :budgetUsd 2.0).  Sent as initializationOptions
when the server starts.  The server reads the API key from ANTHROPIC_API_KEY;
it never belongs here."
  :type 'plist)

(defcustom refute-major-modes '(python-mode python-ts-mode js-mode js-ts-mode typescript-ts-mode
                                go-mode go-ts-mode rust-mode rust-ts-mode java-mode c-mode c++-mode)
  "Major modes whose buffers `refute-eglot-setup' connects to refute."
  :type '(repeat symbol))

(defvar refute-runs (make-hash-table :test 'equal)
  "Run id -> the latest `refute/runUpdate' of that run (a plist).")

(defvar refute--announced (make-hash-table :test 'equal)
  "Runs whose end was already told (a resumed run's next end is news again).")

(defvar refute-run-updates-hook nil
  "Functions called with each `refute/runUpdate' plist.")

(defvar refute-mode-line-string ""
  "What the mode line shows about live runs.")
(put 'refute-mode-line-string 'risky-local-variable t)

(defconst refute--finished '("completed" "completed with failures" "failed" "cancelled" "interrupted"
                             "budget_reached")
  "Statuses of a run that has ended.
budget_reached: the budget stopped it; it resumes with a larger one.")

(defun refute--contact (&optional _interactive)
  "The eglot contact for refute, read when a server starts.
So settings changed after `refute-eglot-setup' apply to the next server."
  (append refute-server-command
          (when refute-settings (list :initializationOptions refute-settings))))

;;;###autoload
(defun refute-eglot-setup ()
  "Have eglot start `refute lsp' for `refute-major-modes'.
Live runs show in the mode line."
  (add-to-list 'eglot-server-programs (cons refute-major-modes #'refute--contact))
  (unless (memq 'refute-mode-line-string mode-line-misc-info)
    (add-to-list 'mode-line-misc-info 'refute-mode-line-string t)))

;;; Talking to the server

(defun refute--server ()
  "The eglot server of this buffer's project, or an error saying what to do."
  (or (eglot-current-server)
      (user-error "refute: no language server here; visit a project file, M-x eglot")))

(defun refute-execute (command &optional argument server)
  "Send `workspace/executeCommand' COMMAND with ARGUMENT (a plist: one JSON object)
to the refute SERVER (default: this buffer's) and return its result.  The
argument goes inside the `arguments' array, as the protocol wants."
  (jsonrpc-request (or server (refute--server)) :workspace/executeCommand
                   (list :command command :arguments (vector (or argument (make-hash-table))))))

(defun refute--root ()
  (let ((project (project-current)))
    (expand-file-name (if project (project-root project) default-directory))))

(defun refute--relative (file)
  (file-relative-name (expand-file-name file) (refute--root)))

(defun refute--scope (kind)
  "The server's scope object for KIND: workspace, folder, file or selection."
  (pcase kind
    ("workspace" nil)
    ("folder" (list :paths (vector (directory-file-name (refute--relative default-directory)))))
    ("file" (list :paths (vector (refute--relative (or buffer-file-name (user-error "refute: this buffer has no file"))))))
    ("selection"
     (unless (use-region-p) (user-error "refute: no region selected"))
     (list :paths (vector (refute--relative buffer-file-name))
           :selection (vector (1- (line-number-at-pos (region-beginning)))
                              (1- (line-number-at-pos (region-end))))))
    (_ (user-error "refute: unknown scope %s" kind))))

(defun refute--read-scope ()
  (completing-read "refute scope: " '("workspace" "folder" "file" "selection") nil t nil nil
                   (if (use-region-p) "selection" "workspace")))

(defun refute-start (workflow &optional scope args)
  "Start WORKFLOW over SCOPE (a plist) with ARGS (a plist); return the run id."
  (let* ((payload (append (list :workflow workflow)
                          (when scope (list :scope scope))
                          (when args (list :args args))))
         (result (refute-execute "refute.run" payload))
         (run-id (plist-get result :runId)))
    (if (not run-id)
        (message "refute: the %s run was not started" workflow)
      (unless (gethash run-id refute-runs)
        (puthash run-id (list :runId run-id :workflow workflow :status "queued") refute-runs))
      (message "refute: %s run %s started" workflow run-id))
    run-id))

;;;###autoload
(defun refute-audit (kind)
  "Audit the workspace, this folder, this file or the region for bugs."
  (interactive (list (refute--read-scope)))
  (refute-start "audit" (refute--scope kind)))

;;;###autoload
(defun refute-security (kind)
  "Security audit of the workspace, this folder, this file or the region."
  (interactive (list (refute--read-scope)))
  (refute-start "security" (refute--scope kind)))

;;;###autoload
(defun refute-ask (question)
  "Ask QUESTION about the codebase; the cross-checked answer is the run's report."
  (interactive "sAsk refute: ")
  (refute-start "ask" nil (list :question question)))

;;;###autoload
(defun refute-migrate (instruction)
  "Propose edits that carry out INSTRUCTION; apply them with `refute-apply'."
  (interactive "sMigration instruction: ")
  (refute-start "migrate" nil (list :instruction instruction)))

;;; Runs

(defun refute--runs ()
  "Every run of the workspace, newest first, as plists."
  (let ((runs (append (refute-execute "refute.runs") nil)))
    (sort runs (lambda (a b) (> (or (plist-get a :created_at) 0) (or (plist-get b :created_at) 0))))))

(defun refute--read-run (&optional active-only)
  (let* ((runs (cl-remove-if (lambda (r) (and active-only (member (plist-get r :status) refute--finished)))
                             (refute--runs)))
         (items (mapcar (lambda (r) (cons (format "%s  %s  %s" (plist-get r :id) (plist-get r :workflow)
                                                  (plist-get r :status))
                                          (plist-get r :id)))
                        runs)))
    (unless items (user-error (if active-only "refute: no run is in progress" "refute: no runs yet")))
    (cdr (assoc (completing-read "refute run: " items nil t nil nil (caar items)) items))))

;;;###autoload
(defun refute-cancel (run-id)
  "Cancel RUN-ID (default: pick among the runs in progress)."
  (interactive (list (refute--read-run t)))
  (refute-execute "refute.cancel" (list :runId run-id))
  (message "refute: cancel sent to run %s" run-id))

;;;###autoload
(defun refute-resume (run-id)
  "Resume a paused, cancelled or failed run; finished calls replay at no cost."
  (interactive (list (refute--read-run)))
  (refute-execute "refute.resume" (list :runId run-id))
  (remhash run-id refute--announced)
  (message "refute: resumed run %s" run-id))

;;;###autoload
(defun refute-resume-with-budget (run-id budget)
  "Resume RUN-ID, which the budget stopped, with a larger BUDGET for the whole run.
BUDGET is \"tokens=N usd=X\" (either or both), like
`refute resume RUN --budget-tokens N --budget-usd X'; finished calls replay
from the journal, so nothing is paid twice."
  (interactive (list (refute--read-run) (read-string "Larger budget (tokens=N usd=X): ")))
  (let ((raised (refute--parse-budget budget)))
    (refute-execute "refute.resume" (append (list :runId run-id) raised))
    (remhash run-id refute--announced)
    (message "refute: resumed run %s with %s" run-id (string-trim budget))))

(defun refute--parse-budget (text)
  "The plist (:budgetTokens N :budgetUsd X) TEXT (\"tokens=N usd=X\") asks for."
  (let (out)
    (dolist (word (split-string (or text "") "[ \t,]+" t))
      (unless (string-match "\\`\\(tokens\\|usd\\)=\\$?\\([0-9_.]+\\)\\'" (downcase word))
        (user-error "refute: \"%s\" is not tokens=N or usd=X" word))
      (let ((key (match-string 1 (downcase word)))
            (value (string-to-number (replace-regexp-in-string "_" "" (match-string 2 (downcase word))))))
        (cond ((not (> value 0)) (user-error "refute: %s must be above 0" key))
              ((equal key "tokens")
               (unless (= value (truncate value)) (user-error "refute: tokens must be a whole number"))
               (setq out (plist-put out :budgetTokens (truncate value))))
              (t (setq out (plist-put out :budgetUsd value))))))
    (or out (user-error "refute: give a larger budget: tokens=N, usd=X or both"))))

;;;###autoload
(defun refute-continue (run-id)
  "Continue audit: a new run covering what RUN-ID left (same workflow, scope and
arguments); units already searched at the same content are skipped, like
`refute run audit --continue RUN'.  Returns the new run's id."
  (interactive (list (refute--read-run)))
  (let ((new-id (plist-get (refute-execute "refute.run" (list :continueRun run-id)) :runId)))
    (if (not new-id)
        (message "refute: the continuation of %s was not started" run-id)
      (unless (gethash new-id refute-runs)
        (puthash new-id (list :runId new-id :workflow "audit" :status "queued") refute-runs))
      (message "refute: continuing run %s as run %s" run-id new-id))
    new-id))

;;;###autoload
(defun refute-report (run-id)
  "Show RUN-ID's report (findings, skipped files, dropped candidates) in a buffer."
  (interactive (list (refute--read-run)))
  (let ((content (plist-get (refute-execute "refute.report" (list :runId run-id :format "md")) :content))
        (buffer (get-buffer-create (format "*refute report %s*" run-id))))
    (with-current-buffer buffer
      (let ((inhibit-read-only t))
        (erase-buffer)
        (insert content))
      (if (fboundp 'markdown-mode) (markdown-mode) (text-mode))
      (setq buffer-read-only t)
      (goto-char (point-min)))
    (display-buffer buffer)
    buffer))

;;;###autoload
(defun refute-apply (run-id)
  "Apply the edits RUN-ID proposed, through the editor (undoable)."
  (interactive (list (refute--read-run)))
  (let* ((result (refute-execute "refute.applyEdits" (list :runId run-id)))
         (refused (append (plist-get result :refused) nil)))
    (message "refute: applied %d edit(s)%s" (length (plist-get result :applied))
             (if refused (format ", refused %d" (length refused)) ""))))

;;;###autoload
(defun refute-runs ()
  "Pick a run, then what to do with it."
  (interactive)
  (let* ((run-id (refute--read-run))
         (action (completing-read (format "refute run %s: " run-id)
                                  '("report" "cancel" "resume" "resume with a larger budget"
                                    "continue audit" "apply edits")
                                  nil t nil nil "report")))
    (pcase action
      ("report" (refute-report run-id))
      ("cancel" (refute-cancel run-id))
      ("resume" (refute-resume run-id))
      ("resume with a larger budget"
       (refute-resume-with-budget run-id (read-string "Larger budget (tokens=N usd=X): ")))
      ("continue audit" (refute-continue run-id))
      ("apply edits" (refute-apply run-id)))))

;;; Live progress

(defun refute--describe (update)
  (format "refute %s %s: %d calls · %s tokens · $%.2f%s"
          (or (plist-get update :workflow) "?") (or (plist-get update :status) "?")
          (or (plist-get update :callsDone) 0) (or (plist-get update :tokens) 0)
          (or (plist-get update :costUsd) 0)
          (let ((skipped (or (plist-get update :skipped) 0)))
            (if (> skipped 0) (format " · %d files skipped" skipped) ""))))

(defun refute--update-mode-line ()
  (let ((live nil))
    (maphash (lambda (_ u) (unless (member (plist-get u :status) refute--finished) (push u live))) refute-runs)
    (setq refute-mode-line-string
          (cond ((null live) "")
                ((null (cdr live)) (concat " " (refute--describe (car live))))
                (t (format " refute: %d runs" (length live)))))
    (force-mode-line-update t)))

(defun refute--announce-end (server update)
  "Tell how UPDATE's run ended and, when there is one, the command that goes on:
`refute-resume-with-budget' for a run the budget stopped, `refute-continue' for
an audit that left part of its scope (asked of SERVER without waiting)."
  (let ((run-id (plist-get update :runId)))
    (if (equal (plist-get update :status) "budget_reached")
        (message "%s: the budget stopped it; M-x refute-resume-with-budget %s continues it with a larger one"
                 (refute--describe update) run-id)
      (message "%s" (refute--describe update)))
    (pcase (plist-get update :status)
      ("completed"
       (jsonrpc-async-request
        server :workspace/executeCommand (list :command "refute.runs" :arguments (vector (make-hash-table)))
        :success-fn
        (lambda (runs)
          (let* ((run (cl-find-if (lambda (r) (equal (plist-get r :id) run-id)) (append runs nil)))
                 (result (plist-get run :result)))
            (when (and (listp result) (eq (plist-get result :complete) :json-false))
              (message "refute: %s %s searched %d of %d units; M-x refute-continue %s covers the %d left"
                       (plist-get run :workflow) run-id (or (plist-get result :covered) 0)
                       (+ (or (plist-get result :covered) 0) (or (plist-get result :not_covered) 0))
                       run-id (or (plist-get result :not_covered) 0)))))
        :error-fn #'ignore)))))

(cl-defmethod eglot-handle-notification (server (_method (eql refute/runUpdate)) &rest update)
  "A run's numbers: the mode line shows live runs, the echo area how a run ended."
  (let ((run-id (plist-get update :runId)))
    (puthash run-id update refute-runs)
    (refute--update-mode-line)
    (when (and (member (plist-get update :status) refute--finished)
               (not (gethash run-id refute--announced)))
      (puthash run-id t refute--announced)
      (refute--announce-end server update))
    (run-hook-with-args 'refute-run-updates-hook update)))

;;; Findings

(defun refute--finding-at-point ()
  "The LSP diagnostic (a plist) of the refute finding at point, or nil.
One that covers point wins; else the first on this line."
  (let (on-line)
    (cl-loop for diag in (flymake-diagnostics (line-beginning-position) (line-end-position))
             for lsp = (cdr (assoc 'eglot-lsp-diag (flymake-diagnostic-data diag)))
             when (and lsp (equal (plist-get lsp :source) "refute"))
             do (if (<= (flymake-diagnostic-beg diag) (point) (flymake-diagnostic-end diag))
                    (cl-return lsp)
                  (setq on-line (or on-line lsp)))
             finally return on-line)))

(defun refute--fingerprint-at-point ()
  (let ((lsp (refute--finding-at-point)))
    (or (plist-get (plist-get lsp :data) :fingerprint)
        (user-error "refute: no refute finding on this line (M-x refute-findings lists them)"))))

;;;###autoload
(defun refute-findings ()
  "List every finding of the project, files never visited included."
  (interactive)
  (flymake-show-project-diagnostics))

;;;###autoload
(defun refute-evidence ()
  "Open the evidence page of the finding at point.
It has the quote, every verdict and reason, the fix and what it cost."
  (interactive)
  (let* ((result (refute-execute "refute.showEvidence" (list :fingerprint (refute--fingerprint-at-point))))
         (path (plist-get result :path)))
    (unless (plist-get result :shown)
      (find-file-other-window (expand-file-name path (refute--root))))
    path))

;;;###autoload
(defun refute-dismiss (reason)
  "Dismiss the finding at point for REASON (recorded in .refute/dismissed.json)."
  (interactive "sDismiss because: ")
  (refute-execute "refute.dismiss" (list :fingerprint (refute--fingerprint-at-point) :reason reason))
  (message "refute: dismissed"))

;;;###autoload
(defun refute-fix ()
  "Apply the suggested fix of the finding at point.
That is the server's \"apply fix\" code action."
  (interactive)
  (let* ((actions (eglot-code-actions (line-beginning-position) (line-end-position) "quickfix"))
         (fix (cl-find-if (lambda (a) (string-prefix-p "refute: apply fix" (plist-get a :title))) actions)))
    (unless fix (user-error "refute: no suggested fix on this line"))
    (eglot--apply-workspace-edit (plist-get fix :edit))
    (plist-get fix :title)))

(provide 'refute)
;;; refute.el ends here
