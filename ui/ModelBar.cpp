#include "ModelBar.h"

#include "Dialogs.h"
#include "QtConvert.h"
#include "Session.h"
#include "softprompt/version.h"

#include <QComboBox>
#include <QDir>
#include <QFileDialog>
#include <QFileInfo>
#include <QHBoxLayout>
#include <QLabel>
#include <QLocale>
#include <QMessageBox>
#include <QPushButton>
#include <QSettings>
#include <QStandardItemModel>

namespace spui {
namespace {
const QString kDemo = QStringLiteral("demo");
const QString kOpenFolder = QStringLiteral("::open-folder");
constexpr int kMaxRecent = 8;
} // namespace

ModelBar::ModelBar(Session* session, QWidget* parent) : QWidget(parent), session_(session)
{
    model_ = new QComboBox(this);
    model_->setObjectName(QStringLiteral("modelCombo"));
    model_->setMinimumContentsLength(28);
    model_->setSizeAdjustPolicy(QComboBox::AdjustToMinimumContentsLengthWithIcon);
    device_ = new QComboBox(this);
    device_->setObjectName(QStringLiteral("deviceCombo"));
    const sp::BuildInfo info = sp::buildInfo();
    device_->addItem(tr("CPU"), QStringLiteral("cpu"));
    device_->addItem(info.cudaAvailable ? tr("CUDA GPU") : tr("CUDA (not available)"),
                     QStringLiteral("cuda"));
    if (!info.cudaAvailable) {
        auto* items = qobject_cast<QStandardItemModel*>(device_->model());
        items->item(1)->setEnabled(false);
        items->item(1)->setToolTip(tr("This build's LibTorch sees no CUDA device"));
    }
    dtype_ = new QComboBox(this);
    dtype_->setObjectName(QStringLiteral("dtypeCombo"));
    dtype_->addItem(QStringLiteral("float32"), QStringLiteral("float32"));
    dtype_->addItem(QStringLiteral("float16"), QStringLiteral("float16"));
    dtype_->addItem(QStringLiteral("bfloat16"), QStringLiteral("bfloat16"));
    reload_ = new QPushButton(tr("&Load"), this);
    reload_->setObjectName(QStringLiteral("loadModelButton"));
    reload_->setToolTip(tr("Load the chosen model again with this device and dtype"));
    state_ = new QLabel(this);
    state_->setObjectName(QStringLiteral("modelState"));
    memory_ = new QLabel(this);
    memory_->setObjectName(QStringLiteral("modelMemory"));

    auto* layout = new QHBoxLayout(this);
    layout->setContentsMargins(4, 2, 4, 2);
    layout->addWidget(new QLabel(tr("Model:"), this));
    layout->addWidget(model_, 1);
    layout->addWidget(new QLabel(tr("Device:"), this));
    layout->addWidget(device_);
    layout->addWidget(new QLabel(tr("dtype:"), this));
    layout->addWidget(dtype_);
    layout->addWidget(reload_);
    layout->addWidget(memory_);
    layout->addWidget(state_, 1);

    connect(model_, qOverload<int>(&QComboBox::activated), this, &ModelBar::onModelActivated);
    connect(device_, qOverload<int>(&QComboBox::currentIndexChanged), this, &ModelBar::updateDtypeChoices);
    connect(dtype_, qOverload<int>(&QComboBox::currentIndexChanged), this, &ModelBar::updateMemoryEstimate);
    connect(model_, qOverload<int>(&QComboBox::currentIndexChanged), this, &ModelBar::updateMemoryEstimate);
    connect(reload_, &QPushButton::clicked, this, [this] {
        const QString source = model_->currentData().toString();
        if (!source.isEmpty() && source != kOpenFolder)
            load(source);
    });
    connect(session_, &Session::activityChanged, this, &ModelBar::onActivity);
    connect(session_, &Session::modelChanged, this, [this] {
        addRecent(session_->modelSource());
        state_->clear();
        updateMemoryEstimate();
    });
    connect(session_, &Session::modelLoadFailed, this, [this](const QString& source, const QString& message) {
        // A failed load leaves the previous model in place: say so, as the status bar does.
        const QString failed = source == kDemo ? tr("the demo model") : QDir(source).dirName();
        if (session_->hasModel())
            state_->setText(tr("%1 failed to load; still using %2")
                                .arg(failed, session_->modelSource() == kDemo
                                                 ? tr("the demo model")
                                                 : QDir(session_->modelSource()).dirName()));
        else
            state_->setText(tr("%1 failed to load; no model loaded").arg(failed));
        pendingSource_.clear();
        showError(this, tr("Could not load the model"),
                  tr("<b>%1</b> could not be loaded.<p>%2<p>Choose a folder that holds a Hugging Face "
                     "checkpoint (config.json, *.safetensors and tokenizer.json) of a supported "
                     "architecture, or the demo model.")
                      .arg(source.toHtmlEscaped(), message.toHtmlEscaped()));
        rebuildModelList();
    });
    connect(session_, &Session::modelWarning, this, [this](const QString& message) {
        showMessage(this, QMessageBox::Information, tr("Running on the CPU"), message);
        setOptions(QStringLiteral("cpu"), QStringLiteral("float32"));
    });
    rebuildModelList();
    updateDtypeChoices();
    updateMemoryEstimate();
}

sp::ModelLoadOptions ModelBar::options() const
{
    sp::ModelLoadOptions options;
    options.device = toStd(device_->currentData().toString());
    options.dtype = toStd(dtype_->currentData().toString());
    return options;
}

void ModelBar::setOptions(const QString& device, const QString& dtype)
{
    const int deviceIndex = device_->findData(device);
    if (deviceIndex >= 0 && (deviceIndex == 0 || sp::buildInfo().cudaAvailable))
        device_->setCurrentIndex(deviceIndex);
    const int dtypeIndex = dtype_->findData(dtype);
    if (dtypeIndex >= 0)
        dtype_->setCurrentIndex(dtypeIndex);
    updateDtypeChoices();
}

void ModelBar::updateDtypeChoices()
{
    // On the CPU, float16/bfloat16 weights halve the memory and compute in float32 (converted block by
    // block as they are used); on a GPU they compute natively.
    const bool cuda = device_->currentData().toString() == QLatin1String("cuda");
    for (int i = 1; i < dtype_->count(); ++i)
        dtype_->setItemData(i,
                            cuda ? tr("Weights and compute in %1").arg(dtype_->itemText(i))
                                 : tr("Weights kept in %1 (half the memory of float32); computed in float32")
                                       .arg(dtype_->itemText(i)),
                            Qt::ToolTipRole);
    updateMemoryEstimate();
}

void ModelBar::updateMemoryEstimate()
{
    const QString source = model_->currentData().toString();
    if (source.isEmpty() || source == kOpenFolder) {
        memory_->clear();
        return;
    }
    try {
        // config.json and the safetensors headers only: quick enough for the GUI thread.
        const sp::MemoryEstimate estimate = sp::estimateModelMemory(toStd(source), options());
        memory_->setText(QString::fromStdString(estimate.summary()));
        memory_->setStyleSheet(estimate.fits() ? QString() : QStringLiteral("color: #b00020;"));
        memory_->setToolTip(
            tr("%1 parameters: weights %2 in %3 + %4 to run a 2,048-token context.\nFree: %5 (%6).%7")
                .arg(QLocale().toString(qlonglong(estimate.parameters)),
                     QString::fromStdString(sp::formatBytes(estimate.weightBytes)),
                     QString::fromStdString(estimate.dtype),
                     QString::fromStdString(sp::formatBytes(estimate.workingBytes)),
                     estimate.availableBytes >= 0 ? QString::fromStdString(sp::formatBytes(estimate.availableBytes))
                                                  : tr("unknown"),
                     QString::fromStdString(estimate.availableSource),
                     estimate.fits() ? QString()
                                     : tr("\nIt does not fit: choose bfloat16, or close other programs.")));
    } catch (const std::exception&) {
        memory_->clear(); // not a model (yet): loading it will say why
        memory_->setToolTip(QString());
    }
}

QStringList ModelBar::recentModels() const
{
    return QSettings().value(QStringLiteral("models/recent")).toStringList();
}

void ModelBar::addRecent(const QString& source)
{
    if (source.isEmpty() || source == kDemo)
        return;
    QStringList recent = recentModels();
    recent.removeAll(source);
    recent.prepend(source);
    while (recent.size() > kMaxRecent)
        recent.removeLast();
    QSettings().setValue(QStringLiteral("models/recent"), recent);
    rebuildModelList();
}

void ModelBar::rebuildModelList()
{
    const QString current = session_->hasModel() ? session_->modelSource() : pendingSource_;
    model_->blockSignals(true);
    model_->clear();
    model_->addItem(tr("Demo model (bundled, offline)"), kDemo);
    for (const QString& path : recentModels())
        if (path != kDemo)
            model_->addItem(QDir(path).dirName() + QStringLiteral("  —  ") + path, path);
    model_->insertSeparator(model_->count());
    model_->addItem(tr("Open Hugging Face folder…"), kOpenFolder);
    const int index = model_->findData(current.isEmpty() ? kDemo : current);
    model_->setCurrentIndex(index >= 0 ? index : 0);
    model_->blockSignals(false);
}

void ModelBar::onModelActivated(int index)
{
    const QString source = model_->itemData(index).toString();
    if (source == kOpenFolder) {
        rebuildModelList(); // back to the loaded model while the dialog is open
        openFolderDialog();
        return;
    }
    if (!source.isEmpty() && (!session_->hasModel() || source != session_->modelSource()))
        load(source);
}

void ModelBar::openFolderDialog()
{
    QSettings settings;
    const QString folder = QFileDialog::getExistingDirectory(
        this, tr("Open a Hugging Face model folder (config.json, *.safetensors, tokenizer.json)"),
        settings.value(QStringLiteral("paths/models"), QDir::homePath()).toString());
    if (folder.isEmpty())
        return;
    settings.setValue(QStringLiteral("paths/models"), QFileInfo(folder).absolutePath());
    load(folder);
}

void ModelBar::load(const QString& source)
{
    QString whyNot;
    pendingSource_ = source;
    if (!session_->loadModel(source, options(), &whyNot)) {
        showMessage(this, QMessageBox::Information, tr("Cannot load a model now"), whyNot);
        rebuildModelList();
        return;
    }
    state_->setText(tr("loading %1…").arg(source == kDemo ? tr("the demo model") : QDir(source).dirName()));
}

void ModelBar::onActivity()
{
    const bool idle = !session_->isBusy();
    model_->setEnabled(idle);
    device_->setEnabled(idle);
    dtype_->setEnabled(idle);
    reload_->setEnabled(idle);
    if (idle)
        rebuildModelList();
}

} // namespace spui
