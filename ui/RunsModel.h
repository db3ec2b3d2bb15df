#pragma once
// The runs in the SQLite run store as a table: filterable, with editable name, tags and notes that
// are written straight back to the store (the CLI sees them too).
#include "softprompt/run_store.h"

#include <QAbstractTableModel>

#include <map>
#include <memory>
#include <vector>

namespace spui {

class RunsModel : public QAbstractTableModel {
    Q_OBJECT
public:
    enum Column {
        IdColumn = 0,
        NameColumn,
        StatusColumn,
        ModelColumn,
        ContextColumn,
        KColumn,
        ObjectiveColumn,
        StepsColumn,
        HeldoutSColumn,
        HeldoutTop1Column,
        StartedColumn,
        TagsColumn,
        NotesColumn,
        ColumnCount
    };
    static constexpr int RunIdRole = Qt::UserRole + 1;
    static constexpr int SortRole = Qt::UserRole + 2;

    explicit RunsModel(QObject* parent = nullptr);
    ~RunsModel() override;

    // Opens the store at `path` (an empty path closes it). Returns false with the store's message.
    bool openStore(const QString& path, QString* error = nullptr);
    sp::RunStore* store() const { return store_.get(); }
    QString lastError() const { return lastError_; }

    void setFilter(const sp::RunFilter& filter);
    const sp::RunFilter& filter() const { return filter_; }
    // Re-reads the list, keeping the filter. Returns false (and keeps the old rows) on a store error.
    bool refresh();

    const sp::RunRecord* runAt(int row) const;
    // Every stored context (id, first words), for the filter; read on refresh().
    const std::map<std::int64_t, QString>& contextLabels() const { return contextLabels_; }
    int rowOfRun(std::int64_t runId) const;
    bool deleteRun(std::int64_t runId, QString* error = nullptr);

    int rowCount(const QModelIndex& parent = {}) const override;
    int columnCount(const QModelIndex& parent = {}) const override;
    QVariant data(const QModelIndex& index, int role = Qt::DisplayRole) const override;
    bool setData(const QModelIndex& index, const QVariant& value, int role = Qt::EditRole) override;
    QVariant headerData(int section, Qt::Orientation orientation, int role = Qt::DisplayRole) const override;
    Qt::ItemFlags flags(const QModelIndex& index) const override;

signals:
    void storeError(const QString& message);

private:
    std::unique_ptr<sp::RunStore> store_;
    sp::RunFilter filter_;
    std::vector<sp::RunRecord> runs_;
    std::map<std::int64_t, QString> contextLabels_; // context id -> its first words
    QString lastError_;
};

QString runStatusText(sp::RunStatus status);
QStringList splitTags(const QString& text); // "a, b ,c" -> {"a","b","c"}

} // namespace spui
