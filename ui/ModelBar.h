#pragma once
// The model picker: the bundled demo model, "Open Hugging Face folder…" and recent models, with
// the device (CPU, or CUDA when this build sees a GPU) and dtype to load it with.
#include "softprompt/model_handle.h"

#include <QWidget>

class QComboBox;
class QLabel;
class QPushButton;

namespace spui {

class Session;

class ModelBar : public QWidget {
    Q_OBJECT
public:
    explicit ModelBar(Session* session, QWidget* parent = nullptr);

    sp::ModelLoadOptions options() const;
    void setOptions(const QString& device, const QString& dtype);
    // Loads `source` ("demo" or a folder) with the chosen device and dtype; errors go to a dialog.
    void load(const QString& source);
    void openFolderDialog();
    QStringList recentModels() const;

    QComboBox* modelCombo() const { return model_; }
    QLabel* memoryLabel() const { return memory_; }
    // Shows what the chosen model needs in memory with the chosen dtype, against what is free.
    void updateMemoryEstimate();

private:
    void rebuildModelList();
    void addRecent(const QString& source);
    void onModelActivated(int index);
    void updateDtypeChoices();
    void onActivity();

    Session* session_ = nullptr;
    QComboBox* model_ = nullptr;
    QComboBox* device_ = nullptr;
    QComboBox* dtype_ = nullptr;
    QPushButton* reload_ = nullptr;
    QLabel* state_ = nullptr;
    QLabel* memory_ = nullptr;
    QString pendingSource_;
};

} // namespace spui
