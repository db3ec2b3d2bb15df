#pragma once
// The query set being edited: one row per query z, with an optional target and a train/held-out
// mark. The training panel reads it; the runs browser can fill it back from a stored run.
#include "softprompt/engine.h"

#include <QAbstractTableModel>

class QUndoStack;

#include <vector>

namespace spui {

class QueryTableModel : public QAbstractTableModel {
    Q_OBJECT
public:
    enum Column { QueryColumn = 0, TargetColumn, HeldOutColumn, ColumnCount };

    explicit QueryTableModel(QObject* parent = nullptr);

    int rowCount(const QModelIndex& parent = {}) const override;
    int columnCount(const QModelIndex& parent = {}) const override;
    QVariant data(const QModelIndex& index, int role = Qt::DisplayRole) const override;
    bool setData(const QModelIndex& index, const QVariant& value, int role = Qt::EditRole) override;
    QVariant headerData(int section, Qt::Orientation orientation, int role = Qt::DisplayRole) const override;
    Qt::ItemFlags flags(const QModelIndex& index) const override;
    bool insertRows(int row, int count, const QModelIndex& parent = {}) override;
    bool removeRows(int row, int count, const QModelIndex& parent = {}) override;

    const std::vector<sp::Query>& queries() const { return queries_; }
    // Rows with an empty query are dropped: they cannot be trained on.
    std::vector<sp::Query> nonEmptyQueries() const;
    void setQueries(std::vector<sp::Query> queries);
    void appendQueries(const std::vector<sp::Query>& queries);
    // One query per line; "query<TAB>target" lines (pasted from a spreadsheet) carry a target.
    // Each goes through the query template; duplicates are skipped (*skipped says how many).
    // Returns how many rows were added.
    int appendPastedText(const QString& text, bool heldOut, int* skipped = nullptr);
    // Targets for rows [0, targets.size()) in nonEmptyQueries() order.
    void setTargetsOfNonEmpty(const std::vector<std::string>& targets);

    int heldOutCount() const;
    int trainCount() const;

    // Every change (edit, add, remove, paste, import, fill, replace) becomes one undoable command
    // on this stack; nullptr records nothing.
    void setUndoStack(QUndoStack* stack) { undoStack_ = stack; }
    QUndoStack* undoStack() const { return undoStack_; }
    // Puts a recorded state back (the undo commands call it).
    void restoreQueries(const std::vector<sp::Query>& queries);

    // The project's query template, e.g. "User: {q}\nAssistant:". Pasted and imported queries are
    // put into it ({q} is replaced by the line); queries typed into the table are kept as typed.
    QString queryTemplate() const { return queryTemplate_; }
    void setQueryTemplate(const QString& queryTemplate);
    QString applyTemplate(const QString& query) const;
    static bool isValidTemplate(const QString& queryTemplate) { return queryTemplate.isEmpty() || queryTemplate.contains(QStringLiteral("{q}")); }

    // Rows whose query text (trimmed) equals an earlier row's: row -> the first row (0-based).
    // The table tints them and says which row they repeat.
    int duplicateOf(int row) const;
    int duplicateCount() const;
    // Appends queries through the template, skipping those already in the set (or repeated
    // within `queries`). Returns how many were added; *skipped gets how many were duplicates.
    int appendNewQueries(std::vector<sp::Query> queries, int* skipped = nullptr, bool applyTemplate = true);

signals:
    void queriesChanged();
    void queryTemplateChanged(const QString& queryTemplate);

private:
    void record(const std::vector<sp::Query>& before, const QString& text);

    std::vector<sp::Query> queries_;
    QUndoStack* undoStack_ = nullptr;
    QString queryTemplate_;
    bool restoring_ = false;
};

} // namespace spui
