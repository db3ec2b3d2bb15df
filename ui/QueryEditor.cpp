#include "QueryEditor.h"

#include "Dialogs.h"
#include "MultiLineDelegate.h"
#include "QueryFiles.h"
#include "QtConvert.h"
#include "QueryTableModel.h"
#include "Session.h"

#include <QApplication>
#include <QCheckBox>
#include <QClipboard>
#include <QDialog>
#include <QDialogButtonBox>
#include <QFileDialog>
#include <QFileInfo>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QKeyEvent>
#include <QLabel>
#include <QLineEdit>
#include <QMenu>
#include <QMessageBox>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QSettings>
#include <QSpinBox>
#include <QTableView>
#include <QToolButton>
#include <QUndoStack>
#include <QVBoxLayout>

#include <set>

namespace spui {

QueryEditor::QueryEditor(Session* session, QWidget* parent) : QWidget(parent), session_(session)
{
    table_ = new QTableView(this);
    table_->setObjectName(QStringLiteral("queryTable"));
    table_->setModel(session_->queries());
    table_->setSelectionBehavior(QAbstractItemView::SelectRows);
    table_->setAlternatingRowColors(true);
    table_->setWordWrap(false);
    table_->setItemDelegate(new MultiLineDelegate(table_));
    table_->horizontalHeader()->setSectionResizeMode(QueryTableModel::QueryColumn, QHeaderView::Stretch);
    table_->horizontalHeader()->setSectionResizeMode(QueryTableModel::TargetColumn, QHeaderView::Stretch);
    table_->horizontalHeader()->setSectionResizeMode(QueryTableModel::HeldOutColumn,
                                                     QHeaderView::ResizeToContents);
    table_->installEventFilter(this);

    auto* add = new QPushButton(tr("&Add"), this);
    add->setObjectName(QStringLiteral("addQueryButton"));
    auto* remove = new QPushButton(tr("&Remove"), this);
    remove->setObjectName(QStringLiteral("removeQueryButton"));
    auto* paste = new QPushButton(tr("&Paste many…"), this);
    paste->setObjectName(QStringLiteral("pasteQueriesButton"));
    auto* markTrain = new QPushButton(tr("Mark train"), this);
    auto* markHeldOut = new QPushButton(tr("Mark held-out"), this);
    auto* importButton = new QToolButton(this);
    importButton->setText(tr("&Import…"));
    importButton->setPopupMode(QToolButton::InstantPopup);
    auto* importMenu = new QMenu(importButton);
    importMenu->addAction(tr("Training queries (JSONL or CSV)…"), this, [this] { importWithDialog(false); });
    importMenu->addAction(tr("Held-out queries (JSONL or CSV)…"), this, [this] { importWithDialog(true); });
    importButton->setMenu(importMenu);
    auto* exportButton = new QPushButton(tr("&Export…"), this);
    connect(add, &QPushButton::clicked, this, &QueryEditor::addQuery);
    connect(remove, &QPushButton::clicked, this, &QueryEditor::removeSelected);
    connect(paste, &QPushButton::clicked, this, &QueryEditor::showPasteDialog);
    connect(markTrain, &QPushButton::clicked, this, [this] { markSelected(false); });
    connect(markHeldOut, &QPushButton::clicked, this, [this] { markSelected(true); });
    connect(exportButton, &QPushButton::clicked, this, &QueryEditor::exportWithDialog);

    targetLength_ = new QSpinBox(this);
    targetLength_->setRange(1, 256);
    targetLength_->setValue(8);
    targetLength_->setPrefix(tr("up to "));
    targetLength_->setSuffix(tr(" tokens"));
    targetLength_->setObjectName(QStringLiteral("targetLengthBox"));
    targetLength_->setToolTip(tr("How many tokens of the teacher's continuation become each query's target "
                                 "(1–256)"));
    fillButton_ = new QPushButton(tr("Fill targets from &teacher"), this);
    fillButton_->setObjectName(QStringLiteral("fillTargetsButton"));
    fillButton_->setToolTip(tr("Each query's target becomes the model's own greedy continuation with the "
                               "full context: what σ should reproduce."));
    connect(fillButton_, &QPushButton::clicked, this, &QueryEditor::fillTargetsFromTeacher);

    countLabel_ = new QLabel(this);
    countLabel_->setObjectName(QStringLiteral("queryCounts"));
    notice_ = new QLabel(this);
    notice_->setObjectName(QStringLiteral("queryNotice"));
    notice_->setWordWrap(true);

    template_ = new QLineEdit(this);
    template_->setObjectName(QStringLiteral("queryTemplateEdit"));
    template_->setPlaceholderText(tr("none: queries are used as typed (example: User: {q}\\nAssistant:)"));
    template_->setToolTip(
        tr("Pasted and imported queries are put into this template: {q} is the pasted line, \\n a line "
           "break. Example: User: {q}\\nAssistant:  Queries typed into the table stay as typed. Saved with "
           "the project."));
    auto* templateLabel = new QLabel(tr("Query &template:"), this);
    templateLabel->setBuddy(template_);
    connect(template_, &QLineEdit::editingFinished, this, &QueryEditor::applyTypedTemplate);
    connect(session_->queries(), &QueryTableModel::queryTemplateChanged, this, [this](const QString& t) {
        if (unescapeTemplate(template_->text()) != t)
            template_->setText(escapeTemplate(t));
    });

    auto* buttons = new QHBoxLayout;
    for (QWidget* w : std::initializer_list<QWidget*>{add, remove, paste, markTrain, markHeldOut,
                                                      importButton, exportButton})
        buttons->addWidget(w);
    buttons->addStretch(1);
    buttons->addWidget(fillButton_);
    buttons->addWidget(targetLength_);
    auto* templateRow = new QHBoxLayout;
    templateRow->addWidget(templateLabel);
    templateRow->addWidget(template_, 1);
    auto* layout = new QVBoxLayout(this);
    layout->addLayout(buttons);
    layout->addLayout(templateRow);
    layout->addWidget(table_, 1);
    layout->addWidget(notice_);
    layout->addWidget(countLabel_);

    connect(session_->queries(), &QueryTableModel::queriesChanged, this, &QueryEditor::updateCounts);
    connect(session_, &Session::activityChanged, this, &QueryEditor::updateEnabled);
    connect(session_, &Session::modelChanged, this, &QueryEditor::updateEnabled);
    connect(session_, &Session::targetsFilled, this, [this](int count) {
        countLabel_->setText(countLabel_->text() + tr(" · %1 targets filled from the teacher").arg(count));
    });
    connect(session_, &Session::targetsFailed, this,
            [this](const QString& message) { showError(this, tr("Could not fill the targets"), message); });
    updateCounts();
    updateEnabled();
}

void QueryEditor::updateCounts()
{
    const QueryTableModel* model = session_->queries();
    int withTarget = 0;
    for (const sp::Query& query : model->queries())
        withTarget += query.target.empty() ? 0 : 1;
    QString text = tr("%1 queries: %2 train, %3 held-out, %4 with a target.")
                       .arg(model->rowCount())
                       .arg(model->trainCount())
                       .arg(model->heldOutCount())
                       .arg(withTarget);
    if (model->rowCount() > 1 && model->heldOutCount() == 0)
        text += tr(" None is marked held-out, so training holds out a seeded 20% of them.");
    if (const int duplicates = model->duplicateCount(); duplicates > 0)
        text += tr(" %n duplicate(s), tinted: each weighs its query twice.", nullptr, duplicates);
    countLabel_->setText(text);
}

void QueryEditor::setNotice(const QString& notice)
{
    notice_->setText(notice);
}

QString QueryEditor::lastNotice() const
{
    return notice_->text();
}

QString QueryEditor::escapeTemplate(const QString& queryTemplate)
{
    QString typed = queryTemplate;
    return typed.replace(QLatin1Char('\\'), QStringLiteral("\\\\")).replace(QLatin1Char('\n'), QStringLiteral("\\n"));
}

QString QueryEditor::unescapeTemplate(const QString& typed)
{
    QString result;
    for (int i = 0; i < typed.size(); ++i) {
        if (typed[i] == QLatin1Char('\\') && i + 1 < typed.size()) {
            const QChar next = typed[i + 1];
            if (next == QLatin1Char('n')) {
                result += QLatin1Char('\n');
                ++i;
                continue;
            }
            if (next == QLatin1Char('t')) {
                result += QLatin1Char('\t');
                ++i;
                continue;
            }
            if (next == QLatin1Char('\\')) {
                result += QLatin1Char('\\');
                ++i;
                continue;
            }
        }
        result += typed[i];
    }
    return result;
}

void QueryEditor::applyTypedTemplate()
{
    const QString queryTemplate = unescapeTemplate(template_->text().trimmed().isEmpty() ? QString()
                                                                                          : template_->text());
    if (!QueryTableModel::isValidTemplate(queryTemplate)) {
        setNotice(tr("The template needs {q} where the query goes, e.g. User: {q}\\nAssistant:  It was not "
                     "changed."));
        template_->setText(escapeTemplate(session_->queries()->queryTemplate()));
        return;
    }
    session_->queries()->setQueryTemplate(queryTemplate);
}

void QueryEditor::updateEnabled()
{
    fillButton_->setEnabled(session_->hasModel() && !session_->isBusy());
}

void QueryEditor::addQuery()
{
    QueryTableModel* model = session_->queries();
    const int row = model->rowCount();
    model->insertRows(row, 1);
    const QModelIndex index = model->index(row, QueryTableModel::QueryColumn);
    table_->setCurrentIndex(index);
    table_->edit(index);
}

void QueryEditor::removeSelected()
{
    std::set<int> rows;
    for (const QModelIndex& index : table_->selectionModel()->selectedIndexes())
        rows.insert(index.row());
    if (rows.empty() && table_->currentIndex().isValid())
        rows.insert(table_->currentIndex().row());
    if (rows.empty())
        return;
    QUndoStack* stack = session_->queries()->undoStack();
    if (stack)
        stack->beginMacro(tr("Remove %n query(s)", nullptr, int(rows.size())));
    for (auto it = rows.rbegin(); it != rows.rend(); ++it)
        session_->queries()->removeRows(*it, 1);
    if (stack) {
        stack->endMacro();
        setNotice(tr("Removed %n query(s). Edit › Undo (Ctrl+Z) brings them back.", nullptr, int(rows.size())));
    }
}

void QueryEditor::markSelected(bool heldOut)
{
    QueryTableModel* model = session_->queries();
    std::set<int> rows;
    for (const QModelIndex& index : table_->selectionModel()->selectedIndexes())
        rows.insert(index.row());
    for (int row : rows)
        model->setData(model->index(row, QueryTableModel::HeldOutColumn),
                       heldOut ? Qt::Checked : Qt::Unchecked, Qt::CheckStateRole);
}

int QueryEditor::pasteMany(const QString& text, bool heldOut)
{
    int skipped = 0;
    const int added = session_->queries()->appendPastedText(text, heldOut, &skipped);
    QString notice = tr("Added %n query(s)", nullptr, added);
    if (!session_->queries()->queryTemplate().isEmpty())
        notice += tr(" through the template");
    if (skipped > 0)
        notice += tr("; skipped %n duplicate(s) of queries already in the set", nullptr, skipped);
    setNotice(notice + QLatin1Char('.'));
    return added;
}

void QueryEditor::showPasteDialog()
{
    QDialog dialog(this);
    dialog.setWindowTitle(tr("Paste many queries"));
    QString helpText = tr("One query per line. A tab after the query starts its target (as when pasting "
                          "two columns from a spreadsheet). Duplicates are skipped.");
    if (!session_->queries()->queryTemplate().isEmpty())
        helpText += tr(" Each line goes into the template %1.")
                        .arg(escapeTemplate(session_->queries()->queryTemplate()).toHtmlEscaped());
    auto* help = new QLabel(helpText, &dialog);
    help->setWordWrap(true);
    auto* edit = new QPlainTextEdit(&dialog);
    edit->setObjectName(QStringLiteral("pasteManyEdit"));
    edit->setPlaceholderText(tr("Paste or type the queries here, one per line."));
    auto* heldOut = new QCheckBox(tr("Mark them held-out"), &dialog);
    auto* box = new QDialogButtonBox(QDialogButtonBox::Ok | QDialogButtonBox::Cancel, &dialog);
    connect(box, &QDialogButtonBox::accepted, &dialog, &QDialog::accept);
    connect(box, &QDialogButtonBox::rejected, &dialog, &QDialog::reject);
    auto* layout = new QVBoxLayout(&dialog);
    layout->addWidget(help);
    layout->addWidget(edit, 1);
    layout->addWidget(heldOut);
    layout->addWidget(box);
    dialog.resize(640, 420);
    dialog.setObjectName(QStringLiteral("pasteManyDialog"));
    if (dialog.exec() == QDialog::Accepted)
        pasteMany(edit->toPlainText(), heldOut->isChecked());
}

bool QueryEditor::eventFilter(QObject* watched, QEvent* event)
{
    if (watched == table_ && event->type() == QEvent::KeyPress) {
        auto* key = static_cast<QKeyEvent*>(event);
        if (key->matches(QKeySequence::Paste)) {
            const QString text = QApplication::clipboard()->text();
            if (text.contains(QLatin1Char('\n'))) {
                pasteMany(text, false);
                return true;
            }
        }
        if (key->matches(QKeySequence::Delete)) {
            removeSelected();
            return true;
        }
    }
    return QWidget::eventFilter(watched, event);
}

bool QueryEditor::importFile(const QString& path, bool heldOut, bool replace, QString* error)
{
    try {
        std::vector<sp::Query> queries = readQueryFile(path, heldOut);
        if (replace) {
            for (sp::Query& query : queries)
                query.text = toStd(session_->queries()->applyTemplate(toQ(query.text)));
            session_->queries()->setQueries(std::move(queries));
            setNotice(tr("Replaced the query set with %1.").arg(QFileInfo(path).fileName()));
            return true;
        }
        int skipped = 0;
        const int added = session_->queries()->appendNewQueries(std::move(queries), &skipped);
        QString notice = tr("Imported %n query(s) from %1", nullptr, added).arg(QFileInfo(path).fileName());
        if (skipped > 0)
            notice += tr("; skipped %n duplicate(s)", nullptr, skipped);
        setNotice(notice + QLatin1Char('.'));
        return true;
    } catch (const std::exception& e) {
        if (error)
            *error = QString::fromStdString(e.what());
        return false;
    }
}

bool QueryEditor::exportFile(const QString& path, QString* error)
{
    try {
        writeQueryFile(path, session_->queries()->queries());
        return true;
    } catch (const std::exception& e) {
        if (error)
            *error = QString::fromStdString(e.what());
        return false;
    }
}

void QueryEditor::importWithDialog(bool heldOut)
{
    QSettings settings;
    const QString path = QFileDialog::getOpenFileName(
        this, heldOut ? tr("Import held-out queries") : tr("Import training queries"),
        settings.value(QStringLiteral("paths/queries")).toString(),
        tr("Query sets (*.jsonl *.json *.csv);;All files (*)"));
    if (path.isEmpty())
        return;
    settings.setValue(QStringLiteral("paths/queries"), path);
    QString error;
    if (!importFile(path, heldOut, false, &error))
        showError(this, tr("Could not import the queries"),
                  tr("%1\n\nFix the file and import it again; nothing was added.").arg(error));
}

void QueryEditor::exportWithDialog()
{
    QSettings settings;
    const QString path = QFileDialog::getSaveFileName(
        this, tr("Export the query set"), settings.value(QStringLiteral("paths/queries")).toString(),
        tr("JSON Lines (*.jsonl);;CSV (*.csv)"));
    if (path.isEmpty())
        return;
    settings.setValue(QStringLiteral("paths/queries"), path);
    QString error;
    if (!exportFile(path, &error))
        showError(this, tr("Could not export the queries"), error);
}

void QueryEditor::fillTargetsFromTeacher()
{
    const bool anyTarget = [this] {
        for (const sp::Query& query : session_->queries()->queries())
            if (!query.target.empty())
                return true;
        return false;
    }();
    if (anyTarget && QMessageBox::question(this, tr("Replace the targets?"),
                                           tr("Some queries already have a target. Replace every target with "
                                              "the teacher's continuation?")) != QMessageBox::Yes)
        return;
    QString whyNot;
    if (!session_->fillTargets(targetLength_->value(), &whyNot))
        showMessage(this, QMessageBox::Information, tr("Cannot fill the targets now"), whyNot);
}

} // namespace spui
