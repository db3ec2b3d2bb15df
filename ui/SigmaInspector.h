#pragma once
// σ inspector: for each learned vector, its norm and the vocabulary tokens nearest to it by cosine,
// with a visible note that this is not a faithful explanation of what σ encodes.
#include "SigmaNeighbours.h"

#include <QWidget>

class QLabel;
class QPushButton;
class QSpinBox;
class QTableWidget;

namespace spui {

class Session;

class SigmaInspector : public QWidget {
    Q_OBJECT
public:
    explicit SigmaInspector(Session* session, QWidget* parent = nullptr);

    // Computes the neighbours of the current outcome's σ off the GUI thread.
    void inspect();
    QTableWidget* table() const { return table_; }
    bool isComputing() const { return computing_; }

signals:
    void inspected(bool ok);

private:
    void onOutcome();
    void show(const SigmaNeighbours& neighbours);

    Session* session_ = nullptr;
    QLabel* disclaimer_ = nullptr;
    QLabel* source_ = nullptr;
    QSpinBox* count_ = nullptr;
    QPushButton* inspectButton_ = nullptr;
    QTableWidget* table_ = nullptr;
    bool computing_ = false;
    int generation_ = 0;
};

} // namespace spui
