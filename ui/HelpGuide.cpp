#include "HelpGuide.h"

#include <QDialog>
#include <QDialogButtonBox>
#include <QObject>
#include <QTextBrowser>
#include <QVBoxLayout>

namespace spui {

QString workflowGuideHtml()
{
    return QObject::tr(
        "<h2>Workflow</h2>"
        "<p>The workbench learns a short soft prompt σ (k vectors) that stands in for a long context c: with σ "
        "and a query z, the model should predict what it predicts with c and z.</p>"
        "<ol>"
        "<li><b>Model.</b> Pick a model in the bar at the top: the bundled demo model works offline; "
        "<i>Open Hugging Face folder…</i> loads a local checkpoint. The status bar names the model that is "
        "loaded and the device.</li>"
        "<li><b>Context</b> (Alt+1). Paste the long prompt, or <i>File › Open context…</i>. The bar below "
        "shows how much of the model's window it fills; token boundaries show how it splits.</li>"
        "<li><b>Queries</b> (Alt+2). Add the questions users ask. <i>Paste many…</i> takes one per line; "
        "a <i>query template</i> such as <code>User: {q}\\nAssistant:</code> wraps each pasted or imported "
        "line. Double-click a cell to edit it: Enter saves, Shift+Enter starts a new line. Mark some "
        "queries held-out to measure generalisation (otherwise 20% are held out). Duplicates are tinted "
        "and skipped on import. <i>Edit › Undo</i> (Ctrl+Z) reverts edits and removals.</li>"
        "<li><b>Train</b> (Alt+3). Choose k, the objective s and the target (the next token, or a "
        "continuation of L tokens), then <i>Train</i> (Ctrl+Enter). The curve shows s on the training "
        "batches and the held-out set, with the full-context and no-context baselines for scale. "
        "<i>Pause</i> (Ctrl+Shift+P) and <i>Stop</i> (Esc) keep what was trained. <i>Run sweep</i> trains one "
        "σ per k.</li>"
        "<li><b>Compare</b> (Alt+4). Each query's prediction under the full context, σ, no context and the "
        "first/last-k baselines, the token probabilities, and per-position divergence.</li>"
        "<li><b>Runs</b> (Alt+5). Every run is kept in the run database (shared with the "
        "<code>softprompt</code> CLI). Overlay curves, diff two runs, reload a run's settings, or "
        "<i>Restore context and queries</i> it was trained on. Export σ as safetensors or a PEFT adapter.</li>"
        "<li><b>Sweep</b> (Alt+6) plots fidelity against the compression ratio; <b>σ inspector</b> (Alt+7) "
        "shows the vocabulary tokens nearest to each vector.</li>"
        "<li><b>Share.</b> <i>File › Export stakeholder report</i> (Ctrl+P) writes HTML or PDF; "
        "<i>Export plot</i> (Ctrl+E) the curve.</li>"
        "</ol>"
        "<h3>Your work</h3>"
        "<p>A <b>project</b> (<i>File › Save</i>, Ctrl+S) holds the context, the queries, the template and the "
        "training settings in one <code>.spwb</code> file; the runs stay in the database. A <b>*</b> in the "
        "title means unsaved changes: the workbench asks before anything replaces them, keeps them when you "
        "quit, and autosaves them every few seconds, so after a crash the next start offers them back.</p>"
        "<p>Hover over any number field for what it does and its range.</p>");
}

QWidget* showWorkflowGuide(QWidget* parent)
{
    if (parent)
        if (auto* open = parent->findChild<QDialog*>(QStringLiteral("workflowGuide"))) {
            open->raise();
            open->activateWindow();
            return open;
        }
    auto* dialog = new QDialog(parent);
    dialog->setObjectName(QStringLiteral("workflowGuide"));
    dialog->setWindowTitle(QObject::tr("Workflow guide"));
    dialog->setAttribute(Qt::WA_DeleteOnClose);
    auto* browser = new QTextBrowser(dialog);
    browser->setObjectName(QStringLiteral("workflowGuideText"));
    browser->setHtml(workflowGuideHtml());
    auto* buttons = new QDialogButtonBox(QDialogButtonBox::Close, dialog);
    QObject::connect(buttons, &QDialogButtonBox::rejected, dialog, &QDialog::close);
    auto* layout = new QVBoxLayout(dialog);
    layout->addWidget(browser, 1);
    layout->addWidget(buttons);
    dialog->resize(640, 620);
    dialog->show();
    return dialog;
}

} // namespace spui
