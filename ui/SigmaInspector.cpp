#include "SigmaInspector.h"

#include "QtConvert.h"
#include "Session.h"

#include <QCoreApplication>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QPointer>
#include <QPushButton>
#include <QSpinBox>
#include <QTableWidget>
#include <QThreadPool>
#include <QVBoxLayout>

namespace spui {

SigmaInspector::SigmaInspector(Session* session, QWidget* parent) : QWidget(parent), session_(session)
{
    disclaimer_ = new QLabel(this);
    disclaimer_->setObjectName(QStringLiteral("sigmaDisclaimer"));
    disclaimer_->setWordWrap(true);
    disclaimer_->setStyleSheet(
        QStringLiteral("QLabel { background: #fff3cd; border: 1px solid #e0b000; padding: 6px; }"));
    disclaimer_->setText(
        tr("<b>Not a faithful explanation.</b> The tokens listed are merely the vocabulary "
           "embeddings that point in the most similar direction to each σ vector. σ is trained "
           "freely in embedding space and usually lies far from every token; the model reads it "
           "through all of its layers, not by looking it up. Treat these lists as a curiosity, "
           "not as what σ \"says\"."));
    source_ = new QLabel(this);
    source_->setObjectName(QStringLiteral("sigmaSource"));
    source_->setWordWrap(true);
    count_ = new QSpinBox(this);
    count_->setRange(1, 50);
    count_->setValue(8);
    count_->setSuffix(tr(" nearest tokens"));
    count_->setObjectName(QStringLiteral("nearestCountBox"));
    count_->setToolTip(tr("How many vocabulary tokens to list for each σ vector, nearest first by cosine "
                          "similarity (1–50)"));
    inspectButton_ = new QPushButton(tr("&Inspect σ"), this);
    inspectButton_->setObjectName(QStringLiteral("inspectSigmaButton"));
    connect(inspectButton_, &QPushButton::clicked, this, &SigmaInspector::inspect);
    table_ = new QTableWidget(0, 3, this);
    table_->setObjectName(QStringLiteral("sigmaTable"));
    table_->setHorizontalHeaderLabels(
        {tr("σ vector"), tr("‖σ_i‖"), tr("nearest vocabulary tokens (cosine)")});
    table_->horizontalHeader()->setStretchLastSection(true);
    table_->verticalHeader()->setVisible(false);
    table_->setEditTriggers(QAbstractItemView::NoEditTriggers);
    table_->setWordWrap(false);

    auto* row = new QHBoxLayout;
    row->addWidget(source_, 1);
    row->addWidget(count_);
    row->addWidget(inspectButton_);
    auto* layout = new QVBoxLayout(this);
    layout->addWidget(disclaimer_);
    layout->addLayout(row);
    layout->addWidget(table_, 1);

    connect(session_, &Session::outcomeChanged, this, &SigmaInspector::onOutcome);
    connect(session_, &Session::modelChanged, this, &SigmaInspector::onOutcome);
    onOutcome();
}

void SigmaInspector::onOutcome()
{
    table_->setRowCount(0);
    const bool hasSigma = session_->hasOutcome() && !session_->lastOutcome().result.sigma.empty();
    inspectButton_->setEnabled(hasSigma && session_->hasModel() && !computing_);
    if (!hasSigma) {
        source_->setText(tr("No σ yet: train one, or open a run from the Runs tab."));
        return;
    }
    const sp::SoftPrompt& sigma = session_->lastOutcome().result.sigma;
    source_->setText(
        tr("σ of run %1: k = %2 vectors of width %3. Model: %4.")
            .arg(session_->lastOutcome().runId)
            .arg(sigma.k)
            .arg(sigma.dim)
            .arg(session_->hasModel() ? toQ(session_->model().summary().name) : tr("none loaded")));
    if (isVisible() && session_->hasModel())
        inspect();
}

void SigmaInspector::inspect()
{
    if (!session_->hasOutcome() || session_->lastOutcome().result.sigma.empty() || !session_->hasModel())
        return;
    computing_ = true;
    inspectButton_->setEnabled(false);
    const int generation = ++generation_;
    const sp::ModelHandle model = session_->model();
    const sp::SoftPrompt sigma = session_->lastOutcome().result.sigma;
    const int count = count_->value();
    QPointer<SigmaInspector> self(this);
    source_->setText(source_->text() + tr(" Computing…"));
    QThreadPool::globalInstance()->start([self, generation, model, sigma, count] {
        SigmaNeighbours neighbours;
        QString error;
        try {
            neighbours = nearestVocabularyTokens(model.summary().path, model.tokenizer(), sigma, count);
        } catch (const std::exception& e) {
            error = QString::fromStdString(e.what());
        }
        QMetaObject::invokeMethod(
            QCoreApplication::instance(),
            [self, generation, neighbours = std::move(neighbours), error] {
                if (!self || generation != self->generation_)
                    return;
                self->computing_ = false;
                self->inspectButton_->setEnabled(true);
                self->source_->setText(self->source_->text().remove(tr(" Computing…")));
                if (!error.isEmpty()) {
                    self->source_->setText(self->source_->text() + QLatin1Char(' ') + error);
                    emit self->inspected(false);
                    return;
                }
                self->show(neighbours);
                emit self->inspected(true);
            },
            Qt::QueuedConnection);
    });
}

void SigmaInspector::show(const SigmaNeighbours& neighbours)
{
    table_->setRowCount(int(neighbours.perVector.size()));
    for (int i = 0; i < int(neighbours.perVector.size()); ++i) {
        table_->setItem(i, 0, new QTableWidgetItem(tr("σ_%1").arg(i + 1)));
        auto* norm = new QTableWidgetItem(QString::number(neighbours.sigmaNorms[size_t(i)], 'f', 3));
        norm->setTextAlignment(Qt::AlignRight | Qt::AlignVCenter);
        table_->setItem(i, 1, norm);
        QStringList tokens;
        for (const NearestToken& token : neighbours.perVector[size_t(i)]) {
            QString text = toQ(token.text);
            text.replace(QLatin1Char('\n'), QStringLiteral("↵"));
            text.replace(QLatin1Char(' '), QStringLiteral("␣"));
            tokens << QStringLiteral("%1 (%2)").arg(text).arg(token.cosine, 0, 'f', 2);
        }
        table_->setItem(i, 2, new QTableWidgetItem(tokens.join(QStringLiteral("   "))));
    }
    table_->resizeColumnToContents(0);
    table_->resizeColumnToContents(1);
    source_->setText(source_->text() + tr(" Mean token-embedding norm: %1 (from %2).")
                                           .arg(neighbours.meanTokenNorm, 0, 'f', 3)
                                           .arg(toQ(neighbours.embeddingTensor)));
}

} // namespace spui
