#include "RunsModel.h"

#include "QtConvert.h"
#include "Session.h"

#include <QBrush>
#include <QColor>
#include <QDateTime>
#include <QLocale>

namespace spui {
namespace {

double metricValue(const sp::RunRecord& run, const char* key, bool* ok)
{
    *ok = run.lastMetrics.contains(key) && run.lastMetrics[key].is_number();
    return *ok ? run.lastMetrics[key].get<double>() : 0.0;
}

QString configString(const sp::RunRecord& run, const char* key)
{
    if (!run.config.contains(key))
        return {};
    const nlohmann::json& value = run.config[key];
    if (value.is_string())
        return toQ(value.get<std::string>());
    return toQ(value.dump());
}

QString joinTags(const std::vector<std::string>& tags)
{
    return toQList(tags).join(QStringLiteral(", "));
}

} // namespace

QString runStatusText(sp::RunStatus status)
{
    // One set of status names: the core's keys, as the CLI prints them and the database stores them
    // (a run stopped with Stop or Ctrl+C is "cancelled" everywhere).
    return QString::fromStdString(sp::runStatusKey(status));
}

QStringList splitTags(const QString& text)
{
    QStringList tags;
    for (const QString& part : text.split(QLatin1Char(','), Qt::SkipEmptyParts))
        if (!part.trimmed().isEmpty() && !tags.contains(part.trimmed()))
            tags << part.trimmed();
    return tags;
}

RunsModel::RunsModel(QObject* parent) : QAbstractTableModel(parent) {}

RunsModel::~RunsModel() = default;

bool RunsModel::openStore(const QString& path, QString* error)
{
    beginResetModel();
    runs_.clear();
    store_.reset();
    lastError_.clear();
    if (!path.isEmpty()) {
        try {
            store_ = std::make_unique<sp::RunStore>(sp::RunStore::open(toStd(path)));
        } catch (const std::exception& e) {
            lastError_ = errorText(e);
        }
    }
    endResetModel();
    if (!lastError_.isEmpty()) {
        if (error)
            *error = lastError_;
        emit storeError(lastError_);
        return false;
    }
    return refresh();
}

void RunsModel::setFilter(const sp::RunFilter& filter)
{
    filter_ = filter;
    refresh();
}

bool RunsModel::refresh()
{
    if (!store_)
        return false;
    std::vector<sp::RunRecord> runs;
    try {
        store_->markInterruptedRuns();
        runs = store_->listRuns(filter_);
        contextLabels_.clear();
        for (const sp::ContextRecord& context : store_->listContexts())
            contextLabels_[context.id] = Session::contextSummary(toQ(context.text));
    } catch (const std::exception& e) {
        lastError_ = errorText(e);
        emit storeError(lastError_);
        return false;
    }
    lastError_.clear();
    beginResetModel();
    runs_ = std::move(runs);
    endResetModel();
    return true;
}

const sp::RunRecord* RunsModel::runAt(int row) const
{
    return row >= 0 && row < int(runs_.size()) ? &runs_[size_t(row)] : nullptr;
}

int RunsModel::rowOfRun(std::int64_t runId) const
{
    for (size_t i = 0; i < runs_.size(); ++i)
        if (runs_[i].id == runId)
            return int(i);
    return -1;
}

bool RunsModel::deleteRun(std::int64_t runId, QString* error)
{
    if (!store_)
        return false;
    try {
        store_->deleteRun(runId);
    } catch (const std::exception& e) {
        if (error)
            *error = toQ(e.what());
        return false;
    }
    const int row = rowOfRun(runId);
    if (row >= 0) {
        beginRemoveRows({}, row, row);
        runs_.erase(runs_.begin() + row);
        endRemoveRows();
    }
    return true;
}

int RunsModel::rowCount(const QModelIndex& parent) const
{
    return parent.isValid() ? 0 : int(runs_.size());
}

int RunsModel::columnCount(const QModelIndex& parent) const
{
    return parent.isValid() ? 0 : ColumnCount;
}

QVariant RunsModel::data(const QModelIndex& index, int role) const
{
    if (!checkIndex(index, CheckIndexOption::IndexIsValid | CheckIndexOption::ParentIsInvalid))
        return {};
    const sp::RunRecord& run = runs_[size_t(index.row())];
    if (role == RunIdRole)
        return qint64(run.id);
    bool ok = false;
    switch (index.column()) {
    case IdColumn:
        if (role == Qt::DisplayRole || role == SortRole)
            return qint64(run.id);
        break;
    case NameColumn:
        if (role == Qt::DisplayRole || role == Qt::EditRole || role == SortRole)
            return toQ(run.name);
        break;
    case StatusColumn:
        if (role == Qt::DisplayRole || role == SortRole)
            return runStatusText(run.status);
        if (role == Qt::ToolTipRole && !run.error.empty())
            return toQ(run.error);
        if (role == Qt::ForegroundRole &&
            (run.status == sp::RunStatus::Failed || run.status == sp::RunStatus::Interrupted))
            return QBrush(QColor(0xb0, 0x20, 0x20));
        break;
    case ModelColumn:
        if (role == Qt::DisplayRole || role == SortRole) {
            const std::string name = run.model.summary.value("name", std::string());
            return toQ(name.empty() ? run.model.path : name);
        }
        if (role == Qt::ToolTipRole)
            return tr("%1\nidentity %2").arg(toQ(run.model.path), toQ(run.model.hash.substr(0, 16)));
        break;
    case ContextColumn:
        if (role == Qt::DisplayRole || role == SortRole || role == Qt::ToolTipRole) {
            if (!run.contextId)
                return role == Qt::ToolTipRole ? tr("Stored without its context") : QStringLiteral("–");
            const auto it = contextLabels_.find(*run.contextId);
            const QString label = it != contextLabels_.end() ? it->second : QString();
            if (role == Qt::ToolTipRole)
                return tr("Context %1: %2").arg(*run.contextId).arg(label);
            return label;
        }
        break;
    case KColumn:
        if (role == Qt::DisplayRole || role == SortRole)
            return run.config.contains("k") ? QVariant(run.config.value("k", 0)) : QVariant();
        break;
    case ObjectiveColumn:
        if (role == Qt::DisplayRole || role == SortRole)
            return configString(run, "objective");
        break;
    case StepsColumn:
        if (role == Qt::DisplayRole || role == SortRole)
            return run.lastStep;
        break;
    case HeldoutSColumn: {
        const double value = metricValue(run, sp::metric_key::HeldoutS, &ok);
        if (!ok)
            break;
        if (role == Qt::DisplayRole)
            return QString::number(value, 'g', 4);
        if (role == SortRole)
            return value;
        break;
    }
    case HeldoutTop1Column: {
        const double value = metricValue(run, sp::metric_key::HeldoutTop1, &ok);
        if (!ok)
            break;
        if (role == Qt::DisplayRole)
            return QStringLiteral("%1%").arg(value * 100.0, 0, 'f', 0);
        if (role == SortRole)
            return value;
        break;
    }
    case StartedColumn:
        if (role == Qt::DisplayRole)
            return QLocale().toString(QDateTime::fromMSecsSinceEpoch(run.startedAtMs), QLocale::ShortFormat);
        if (role == SortRole)
            return qint64(run.startedAtMs);
        break;
    case TagsColumn:
        if (role == Qt::DisplayRole || role == Qt::EditRole || role == SortRole)
            return joinTags(run.tags);
        break;
    case NotesColumn:
        if (role == Qt::DisplayRole)
            return toQ(run.notes).section(QLatin1Char('\n'), 0, 0);
        if (role == Qt::EditRole || role == Qt::ToolTipRole || role == SortRole)
            return toQ(run.notes);
        break;
    default:
        break;
    }
    if (role == Qt::TextAlignmentRole &&
        (index.column() == IdColumn || index.column() == KColumn || index.column() == StepsColumn ||
         index.column() == HeldoutSColumn || index.column() == HeldoutTop1Column))
        return int(Qt::AlignRight | Qt::AlignVCenter);
    return {};
}

bool RunsModel::setData(const QModelIndex& index, const QVariant& value, int role)
{
    if (!store_ || role != Qt::EditRole ||
        !checkIndex(index, CheckIndexOption::IndexIsValid | CheckIndexOption::ParentIsInvalid))
        return false;
    sp::RunRecord& run = runs_[size_t(index.row())];
    try {
        switch (index.column()) {
        case NameColumn:
            store_->setName(run.id, toStd(value.toString().trimmed()));
            run.name = toStd(value.toString().trimmed());
            break;
        case TagsColumn: {
            std::vector<std::string> tags;
            for (const QString& tag : splitTags(value.toString()))
                tags.push_back(toStd(tag));
            store_->setTags(run.id, tags);
            std::sort(tags.begin(), tags.end());
            run.tags = tags;
            break;
        }
        case NotesColumn:
            store_->setNotes(run.id, toStd(value.toString()));
            run.notes = toStd(value.toString());
            break;
        default:
            return false;
        }
    } catch (const std::exception& e) {
        lastError_ = errorText(e);
        emit storeError(lastError_);
        return false;
    }
    emit dataChanged(index, index);
    return true;
}

QVariant RunsModel::headerData(int section, Qt::Orientation orientation, int role) const
{
    if (orientation != Qt::Horizontal || role != Qt::DisplayRole)
        return {};
    switch (section) {
    case IdColumn:
        return tr("Run");
    case NameColumn:
        return tr("Name");
    case StatusColumn:
        return tr("Status");
    case ModelColumn:
        return tr("Model");
    case ContextColumn:
        return tr("Context");
    case KColumn:
        return tr("k");
    case ObjectiveColumn:
        return tr("s");
    case StepsColumn:
        return tr("Steps");
    case HeldoutSColumn:
        return tr("Held-out s");
    case HeldoutTop1Column:
        return tr("Held-out top-1");
    case StartedColumn:
        return tr("Started");
    case TagsColumn:
        return tr("Tags");
    case NotesColumn:
        return tr("Notes");
    default:
        return {};
    }
}

Qt::ItemFlags RunsModel::flags(const QModelIndex& index) const
{
    if (!index.isValid())
        return Qt::NoItemFlags;
    Qt::ItemFlags flags = Qt::ItemIsEnabled | Qt::ItemIsSelectable | Qt::ItemNeverHasChildren;
    if (index.column() == NameColumn || index.column() == TagsColumn || index.column() == NotesColumn)
        flags |= Qt::ItemIsEditable;
    return flags;
}

} // namespace spui
