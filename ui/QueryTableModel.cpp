#include "QueryTableModel.h"

#include "QtConvert.h"

#include <QBrush>
#include <QColor>
#include <QHash>
#include <QUndoCommand>
#include <QUndoStack>

#include <algorithm>

namespace spui {
namespace {

// One change of the query set, kept as the set before and after it: the sets are small (hundreds of
// short strings), and a snapshot cannot drift from what the table showed.
class QuerySetCommand : public QUndoCommand {
public:
    QuerySetCommand(QueryTableModel* model, std::vector<sp::Query> before, std::vector<sp::Query> after,
                    const QString& text)
        : QUndoCommand(text), model_(model), before_(std::move(before)), after_(std::move(after))
    {
    }
    void undo() override { model_->restoreQueries(before_); }
    void redo() override
    {
        if (firstRedo_) { // pushed after the change was made
            firstRedo_ = false;
            return;
        }
        model_->restoreQueries(after_);
    }

private:
    QueryTableModel* model_;
    std::vector<sp::Query> before_, after_;
    bool firstRedo_ = true;
};

QString duplicateKey(const std::string& text)
{
    return QString::fromStdString(text).trimmed();
}

} // namespace

QueryTableModel::QueryTableModel(QObject* parent) : QAbstractTableModel(parent)
{
    connect(this, &QAbstractItemModel::dataChanged, this, &QueryTableModel::queriesChanged);
    connect(this, &QAbstractItemModel::rowsInserted, this, &QueryTableModel::queriesChanged);
    connect(this, &QAbstractItemModel::rowsRemoved, this, &QueryTableModel::queriesChanged);
    connect(this, &QAbstractItemModel::modelReset, this, &QueryTableModel::queriesChanged);
}

int QueryTableModel::rowCount(const QModelIndex& parent) const
{
    return parent.isValid() ? 0 : int(queries_.size());
}

int QueryTableModel::columnCount(const QModelIndex& parent) const
{
    return parent.isValid() ? 0 : ColumnCount;
}

QVariant QueryTableModel::data(const QModelIndex& index, int role) const
{
    if (!checkIndex(index, CheckIndexOption::IndexIsValid | CheckIndexOption::ParentIsInvalid))
        return {};
    const sp::Query& query = queries_[size_t(index.row())];
    switch (index.column()) {
    case QueryColumn:
        if (role == Qt::DisplayRole) // one line per query; the editor shows the real line breaks
            return toQ(query.text).replace(QLatin1Char('\n'), QStringLiteral(" ↵ "));
        if (role == Qt::EditRole)
            return toQ(query.text);
        if (role == Qt::ToolTipRole) {
            const int first = duplicateOf(index.row());
            return first >= 0 ? tr("Duplicate of row %1: it weighs that query twice in training.\n\n%2")
                                    .arg(first + 1)
                                    .arg(toQ(query.text))
                              : toQ(query.text);
        }
        if (role == Qt::BackgroundRole && duplicateOf(index.row()) >= 0)
            return QBrush(QColor(0xff, 0xe4, 0xb5));
        break;
    case TargetColumn:
        if (role == Qt::DisplayRole)
            return toQ(query.target).replace(QLatin1Char('\n'), QStringLiteral(" ↵ "));
        if (role == Qt::EditRole)
            return toQ(query.target);
        if (role == Qt::ToolTipRole)
            return query.target.empty() ? tr("No target: the teacher's own prediction is the target")
                                        : toQ(query.target);
        break;
    case HeldOutColumn:
        if (role == Qt::CheckStateRole)
            return query.heldOut ? Qt::Checked : Qt::Unchecked;
        if (role == Qt::DisplayRole)
            return query.heldOut ? tr("held-out") : tr("train");
        if (role == Qt::ToolTipRole)
            return tr("Held-out queries are never trained on: they measure how σ generalises");
        break;
    default:
        break;
    }
    return {};
}

bool QueryTableModel::setData(const QModelIndex& index, const QVariant& value, int role)
{
    if (!checkIndex(index, CheckIndexOption::IndexIsValid | CheckIndexOption::ParentIsInvalid))
        return false;
    const std::vector<sp::Query> before = queries_;
    sp::Query& query = queries_[size_t(index.row())];
    QString what;
    if (index.column() == HeldOutColumn && role == Qt::CheckStateRole) {
        query.heldOut = value.value<Qt::CheckState>() == Qt::Checked;
        what = query.heldOut ? tr("Mark query %1 held-out").arg(index.row() + 1)
                             : tr("Mark query %1 train").arg(index.row() + 1);
    } else if (index.column() == QueryColumn && role == Qt::EditRole) {
        query.text = toStd(value.toString());
        what = tr("Edit query %1").arg(index.row() + 1);
    } else if (index.column() == TargetColumn && role == Qt::EditRole) {
        query.target = toStd(value.toString());
        what = tr("Edit target %1").arg(index.row() + 1);
    } else {
        return false;
    }
    if (before[size_t(index.row())].text == query.text && before[size_t(index.row())].target == query.target &&
        before[size_t(index.row())].heldOut == query.heldOut)
        return true; // nothing changed: nothing to undo
    // A changed text can make (or stop making) other rows duplicates: their tint changes too.
    emit dataChanged(this->index(0, 0), this->index(rowCount() - 1, ColumnCount - 1));
    record(before, what);
    return true;
}

QVariant QueryTableModel::headerData(int section, Qt::Orientation orientation, int role) const
{
    if (role != Qt::DisplayRole)
        return {};
    if (orientation == Qt::Vertical)
        return section + 1;
    switch (section) {
    case QueryColumn:
        return tr("Query z");
    case TargetColumn:
        return tr("Target (optional)");
    case HeldOutColumn:
        return tr("Split");
    default:
        return {};
    }
}

Qt::ItemFlags QueryTableModel::flags(const QModelIndex& index) const
{
    if (!index.isValid())
        return Qt::NoItemFlags;
    Qt::ItemFlags flags = Qt::ItemIsEnabled | Qt::ItemIsSelectable | Qt::ItemNeverHasChildren;
    if (index.column() == HeldOutColumn)
        return flags | Qt::ItemIsUserCheckable;
    return flags | Qt::ItemIsEditable;
}

bool QueryTableModel::insertRows(int row, int count, const QModelIndex& parent)
{
    if (parent.isValid() || row < 0 || row > rowCount() || count <= 0)
        return false;
    const std::vector<sp::Query> before = queries_;
    beginInsertRows(parent, row, row + count - 1);
    queries_.insert(queries_.begin() + row, size_t(count), sp::Query{});
    endInsertRows();
    record(before, tr("Add %n query(s)", nullptr, count));
    return true;
}

bool QueryTableModel::removeRows(int row, int count, const QModelIndex& parent)
{
    if (parent.isValid() || row < 0 || count <= 0 || row + count > rowCount())
        return false;
    const std::vector<sp::Query> before = queries_;
    beginRemoveRows(parent, row, row + count - 1);
    queries_.erase(queries_.begin() + row, queries_.begin() + row + count);
    endRemoveRows();
    record(before, tr("Remove %n query(s)", nullptr, count));
    return true;
}

std::vector<sp::Query> QueryTableModel::nonEmptyQueries() const
{
    std::vector<sp::Query> kept;
    for (const sp::Query& query : queries_)
        if (!QString::fromStdString(query.text).trimmed().isEmpty())
            kept.push_back(query);
    return kept;
}

void QueryTableModel::setQueries(std::vector<sp::Query> queries)
{
    const std::vector<sp::Query> before = queries_;
    beginResetModel();
    queries_ = std::move(queries);
    endResetModel();
    record(before, tr("Replace the query set"));
}

void QueryTableModel::restoreQueries(const std::vector<sp::Query>& queries)
{
    restoring_ = true;
    beginResetModel();
    queries_ = queries;
    endResetModel();
    restoring_ = false;
}

void QueryTableModel::record(const std::vector<sp::Query>& before, const QString& text)
{
    if (!undoStack_ || restoring_)
        return;
    undoStack_->push(new QuerySetCommand(this, before, queries_, text));
}

void QueryTableModel::appendQueries(const std::vector<sp::Query>& queries)
{
    if (queries.empty())
        return;
    const std::vector<sp::Query> before = queries_;
    const int first = rowCount();
    beginInsertRows({}, first, first + int(queries.size()) - 1);
    queries_.insert(queries_.end(), queries.begin(), queries.end());
    endInsertRows();
    record(before, tr("Add %n query(s)", nullptr, int(queries.size())));
}

void QueryTableModel::setQueryTemplate(const QString& queryTemplate)
{
    if (queryTemplate == queryTemplate_)
        return;
    queryTemplate_ = queryTemplate;
    emit queryTemplateChanged(queryTemplate_);
}

QString QueryTableModel::applyTemplate(const QString& query) const
{
    if (queryTemplate_.isEmpty() || !queryTemplate_.contains(QStringLiteral("{q}")))
        return query;
    QString prefix = queryTemplate_.section(QStringLiteral("{q}"), 0, 0);
    // Already in the template (a query copied out of this table): keep it as it is.
    if (!prefix.isEmpty() && query.startsWith(prefix))
        return query;
    QString result = queryTemplate_;
    return result.replace(QStringLiteral("{q}"), query);
}

int QueryTableModel::duplicateOf(int row) const
{
    if (row < 0 || row >= rowCount())
        return -1;
    const QString key = duplicateKey(queries_[size_t(row)].text);
    if (key.isEmpty())
        return -1;
    for (int earlier = 0; earlier < row; ++earlier)
        if (duplicateKey(queries_[size_t(earlier)].text) == key)
            return earlier;
    return -1;
}

int QueryTableModel::duplicateCount() const
{
    QHash<QString, int> seen;
    int duplicates = 0;
    for (const sp::Query& query : queries_) {
        const QString key = duplicateKey(query.text);
        if (key.isEmpty())
            continue;
        if (seen.contains(key))
            ++duplicates;
        seen.insert(key, 1);
    }
    return duplicates;
}

int QueryTableModel::appendNewQueries(std::vector<sp::Query> queries, int* skipped, bool useTemplate)
{
    QHash<QString, int> seen;
    for (const sp::Query& query : queries_)
        seen.insert(duplicateKey(query.text), 1);
    std::vector<sp::Query> added;
    int duplicates = 0;
    for (sp::Query& query : queries) {
        if (useTemplate)
            query.text = toStd(applyTemplate(toQ(query.text)));
        const QString key = duplicateKey(query.text);
        if (seen.contains(key)) {
            ++duplicates;
            continue;
        }
        seen.insert(key, 1);
        added.push_back(std::move(query));
    }
    if (skipped)
        *skipped = duplicates;
    appendQueries(added);
    return int(added.size());
}

int QueryTableModel::appendPastedText(const QString& text, bool heldOut, int* skipped)
{
    std::vector<sp::Query> pasted;
    for (const QString& rawLine : text.split(QLatin1Char('\n'))) {
        QString line = rawLine;
        if (line.endsWith(QLatin1Char('\r')))
            line.chop(1);
        if (line.trimmed().isEmpty())
            continue;
        sp::Query query;
        const int tab = line.indexOf(QLatin1Char('\t'));
        query.text = toStd(tab < 0 ? line : line.left(tab));
        if (tab >= 0)
            query.target = toStd(line.mid(tab + 1).section(QLatin1Char('\t'), 0, 0));
        query.heldOut = heldOut;
        pasted.push_back(std::move(query));
    }
    return appendNewQueries(std::move(pasted), skipped);
}

void QueryTableModel::setTargetsOfNonEmpty(const std::vector<std::string>& targets)
{
    const std::vector<sp::Query> before = queries_;
    size_t next = 0;
    for (size_t row = 0; row < queries_.size() && next < targets.size(); ++row) {
        if (QString::fromStdString(queries_[row].text).trimmed().isEmpty())
            continue;
        queries_[row].target = targets[next++];
    }
    if (!queries_.empty())
        emit dataChanged(index(0, TargetColumn), index(rowCount() - 1, TargetColumn));
    record(before, tr("Fill targets from the teacher"));
}

int QueryTableModel::heldOutCount() const
{
    return int(std::count_if(queries_.begin(), queries_.end(), [](const sp::Query& q) { return q.heldOut; }));
}

int QueryTableModel::trainCount() const
{
    return rowCount() - heldOutCount();
}

} // namespace spui
