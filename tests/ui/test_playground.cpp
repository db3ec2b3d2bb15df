// The Playground tab and the coverage map on the demo model, driven as a user would: σ is trained
// from the UI on a shipped example, then a question is asked under the full context, σ and no
// context (each answer streamed from the worker thread and equal to what core generates), the
// conversation continues, the question goes into the query set and Compare evaluates it on demand,
// and the coverage map colours the context.
#include "CompareView.h"
#include "ContextEditor.h"
#include "CoverageMap.h"
#include "MainWindow.h"
#include "PendingQueries.h"
#include "PlaygroundTab.h"
#include "PlaygroundWorker.h"
#include "QueryTableModel.h"
#include "Session.h"
#include "TrainingPanel.h"
#include "softprompt/paths.h"
#include "softprompt/playground.h"
#include "softprompt/run_store.h"
#include "ui_test_support.h"

#include <QFile>
#include <QPlainTextEdit>
#include <QSignalSpy>
#include <QSpinBox>
#include <QTemporaryDir>
#include <QTreeWidget>

#include <memory>

Q_DECLARE_METATYPE(sp::Condition)

namespace {

constexpr int kModelTimeoutMs = 120000;
constexpr int kRunTimeoutMs = 300000;
constexpr int kAnswerTimeoutMs = 60000;
const QString kQuestion = QStringLiteral("Where are you located?");

template <typename T> T* child(QObject* parent, const char* name)
{
    T* found = parent->findChild<T*>(QLatin1String(name));
    if (!found)
        qFatal("no child %s", name);
    return found;
}

} // namespace

class TestPlayground : public QObject {
    Q_OBJECT
private slots:
    void initTestCase()
    {
        try {
            if (!QFile::exists(QString::fromStdString(sp::demoModelDirectory()) + "/model.safetensors"))
                QSKIP("the demo model has no weights");
        } catch (const std::exception& error) {
            QSKIP(qPrintable(QStringLiteral("the demo model is not available: %1").arg(error.what())));
        }
        window_ = std::make_unique<spui::MainWindow>();
        window_->resize(1280, 820);
        window_->show();
        QVERIFY(QTest::qWaitForWindowExposed(window_.get()));
        window_->startUp();
        spui::Session* session = window_->session();
        QTRY_VERIFY_WITH_TIMEOUT(session->hasModel() && !session->isBusy(), kModelTimeoutMs);
        // Twelve of the example's queries keep the run short.
        std::vector<sp::Query> kept;
        int train = 0, heldOut = 0;
        for (const sp::Query& query : session->queries()->queries()) {
            int& count = query.heldOut ? heldOut : train;
            if (count < (query.heldOut ? 4 : 8)) {
                kept.push_back(query);
                ++count;
            }
        }
        session->queries()->setQueries(kept);
        child<QSpinBox>(window_.get(), "stepsBox")->setValue(20);
        child<QSpinBox>(window_.get(), "batchBox")->setValue(4);
        child<QSpinBox>(window_.get(), "kBox")->setValue(4);
        QSignalSpy finished(session->worker(), &spui::TrainingWorker::trainingFinished);
        window_->trainingPanel()->start();
        QTRY_COMPARE_WITH_TIMEOUT(finished.count(), 1, kRunTimeoutMs);
        QTRY_VERIFY(!session->isBusy() && session->hasOutcome());
        runId_ = session->lastOutcome().runId;
        QVERIFY(runId_ > 0);
    }

    void asksUnderEachCondition_data()
    {
        QTest::addColumn<sp::Condition>("condition");
        for (sp::Condition condition : sp::playgroundConditions())
            QTest::newRow(sp::conditionKey(condition).c_str()) << condition;
    }
    // One question, three columns: each condition's answer streams in from the worker thread and
    // is, token for token, what core's Playground generates for it (σ from the run in the database).
    void asksUnderEachCondition()
    {
        QFETCH(sp::Condition, condition);
        spui::PlaygroundTab* tab = window_->playgroundTab();
        window_->showTab(QStringLiteral("playground"));
        tab->newConversation();
        tab->refreshRuns();
        QVERIFY(tab->selectRun(runId_));
        tab->setQuestion(kQuestion);
        QSignalSpy tokens(tab->worker(), &spui::PlaygroundWorker::tokenGenerated);
        QSignalSpy done(tab, &spui::PlaygroundTab::generationFinished);
        QString why;
        QVERIFY2(tab->ask(&why), qPrintable(why));
        QVERIFY(tab->isGenerating());
        QTRY_COMPARE_WITH_TIMEOUT(done.count(), 1, kAnswerTimeoutMs);
        QVERIFY(!tab->isGenerating());
        QCOMPARE(tab->errorText(condition), QString());
        // The run was trained through the demo model's chat template, so the question goes into a user
        // turn as typed (no "User: …" query format) and σ answers in the layout it was trained in.
        QVERIFY(tab->chatLayout());
        QCOMPARE(tab->formattedQuestion(), QString(kQuestion));

        int streamed = 0;
        for (const QList<QVariant>& signal : tokens)
            streamed += signal.at(1).toInt() == int(condition) ? 1 : 0;
        QVERIFY2(streamed > 0, "tokens arrive one by one");

        const spui::Session* session = window_->session();
        sp::Playground reference(session->model(), session->context().toStdString(), tab->promptFormat());
        const sp::RunStore store = sp::RunStore::open(session->databasePath().toStdString());
        reference.setSigma(store.loadSigma(runId_));
        const sp::Generation expected =
            reference.generate(condition, {}, tab->formattedQuestion().toStdString(), tab->sampling());
        QCOMPARE(streamed, int(expected.tokens.size()));
        QCOMPARE(tab->replyText(condition), QString::fromStdString(expected.text)); // end-of-text not shown

        // Hovering a token compares the three conditions at that point of this answer.
        const QString tooltip = tab->tokenTooltip(condition, 0, 0);
        for (sp::Condition shown : sp::playgroundConditions())
            QVERIFY2(tooltip.contains(QString::fromStdString(sp::conditionLabel(shown)).toHtmlEscaped()),
                     qPrintable(tooltip));
    }

    // The second question continues each conversation: σ reads its own first answer after σ.
    void conversationContinues()
    {
        spui::PlaygroundTab* tab = window_->playgroundTab();
        QCOMPARE(tab->turnCount(sp::Condition::SoftPrompt), 1);
        const QString firstQuestion = tab->formattedQuestion();
        const QString firstReply = tab->replyText(sp::Condition::SoftPrompt);
        tab->setQuestion(QStringLiteral("Who is your manager?"));
        QSignalSpy done(tab, &spui::PlaygroundTab::generationFinished);
        QVERIFY(tab->ask());
        QTRY_COMPARE_WITH_TIMEOUT(done.count(), 1, kAnswerTimeoutMs);
        for (sp::Condition condition : sp::playgroundConditions())
            QCOMPARE(tab->turnCount(condition), 2);

        const spui::Session* session = window_->session();
        sp::Playground reference(session->model(), session->context().toStdString(), tab->promptFormat());
        reference.setSigma(sp::RunStore::open(session->databasePath().toStdString()).loadSigma(runId_));
        const sp::Generation first =
            reference.generate(sp::Condition::SoftPrompt, {}, firstQuestion.toStdString(), tab->sampling());
        std::vector<std::int32_t> ids;
        for (const sp::GeneratedToken& token : first.tokens)
            ids.push_back(token.id);
        const sp::Generation second = reference.generate(sp::Condition::SoftPrompt, {{firstQuestion.toStdString(), ids}},
                                                         tab->formattedQuestion().toStdString(), tab->sampling());
        QCOMPARE(tab->replyText(sp::Condition::SoftPrompt, 0), firstReply);
        QCOMPARE(tab->replyText(sp::Condition::SoftPrompt, 1), QString::fromStdString(second.text));
    }

    // Stop ends the generation between tokens; the tab is ready again at once.
    void stopEndsTheAnswer()
    {
        spui::PlaygroundTab* tab = window_->playgroundTab();
        tab->newConversation();
        sp::SamplingSettings long_ = tab->sampling();
        long_.maxNewTokens = 512;
        long_.sample = true;
        long_.temperature = 3.0; // never settles on end-of-text
        tab->setSampling(long_);
        QSignalSpy done(tab, &spui::PlaygroundTab::generationFinished);
        QVERIFY(tab->ask());
        tab->stop();
        QTRY_COMPARE_WITH_TIMEOUT(done.count(), 1, kAnswerTimeoutMs);
        int total = 0;
        for (sp::Condition condition : sp::playgroundConditions())
            total += tab->replyText(condition).size();
        QVERIFY2(total < 3 * 512, "stopped before every condition generated 512 tokens");
        long_.sample = false;
        long_.maxNewTokens = 24;
        tab->setSampling(long_);
    }

    // One click adds the question (formatted) to the query set, held out; Compare then offers to
    // evaluate it with the run's σ and shows it in its table.
    void addedQuestionIsEvaluatedInCompare()
    {
        spui::PlaygroundTab* tab = window_->playgroundTab();
        spui::Session* session = window_->session();
        tab->setQuestion(QStringLiteral("What colour is your logo?"));
        const int before = session->queries()->rowCount();
        QVERIFY(tab->addQuestionToQueries());
        QCOMPARE(session->queries()->rowCount(), before + 1);
        QCOMPARE(QString::fromStdString(session->queries()->queries().back().text), tab->formattedQuestion());
        QVERIFY(session->queries()->queries().back().heldOut);
        QString why;
        QVERIFY(!tab->addQuestionToQueries(&why));
        QVERIFY(why.contains(QStringLiteral("already")));

        auto* bar = window_->compareView()->findChild<spui::PendingQueriesBar*>(QStringLiteral("pendingQueriesBar"));
        QVERIFY(bar);
        QCOMPARE(int(bar->pendingQueries().size()), 1);
        window_->showTab(QStringLiteral("compare"));
        QTRY_VERIFY(bar->isVisible());
        QSignalSpy evaluated(bar, &spui::PendingQueriesBar::evaluated);
        QVERIFY2(bar->evaluate(&why), qPrintable(why));
        QTRY_COMPARE_WITH_TIMEOUT(evaluated.count(), 1, kAnswerTimeoutMs);
        QTRY_VERIFY(!bar->isVisible());
        QCOMPARE(int(bar->pendingQueries().size()), 0);
        bool found = false;
        for (const sp::QueryEvaluation& query : session->lastOutcome().evaluation.queries)
            if (QString::fromStdString(query.query) == tab->formattedQuestion())
                found = query.outcomes.size() >= 3;
        QVERIFY2(found, "the new query has outcomes under every condition");
        // It is stored with the run, so reopening the run shows it too.
        const auto stored = sp::RunStore::open(session->databasePath().toStdString()).evaluations(runId_);
        QVERIFY(std::any_of(stored.begin(), stored.end(), [&](const sp::StoredEvaluation& row) {
            return QString::fromStdString(row.query) == tab->formattedQuestion() && row.condition == "sigma";
        }));
    }

    // The coverage map colours the context editor and lists a sentence's queries when clicked.
    void coverageMapColoursTheContext()
    {
        spui::CoveragePanel* panel = window_->coveragePanel();
        window_->showTab(QStringLiteral("context"));
        // The example's first paragraphs (the persona, the closing rule, a fact, filler) keep the
        // leave-one-out passes short; σ is measured against the teacher of this context.
        const QString full = window_->session()->context();
        window_->contextEditor()->setText(full.left(full.indexOf(QStringLiteral("## Notes"))));
        QTRY_VERIFY(window_->session()->context().size() < full.size());
        QSignalSpy ready(panel, &spui::CoveragePanel::mapReady);
        QString why;
        QVERIFY2(panel->compute(&why), qPrintable(why));
        QTRY_COMPARE_WITH_TIMEOUT(ready.count(), 1, kRunTimeoutMs);
        const sp::CoverageMap* map = panel->map();
        QVERIFY(map && map->hasSigma);
        QCOMPARE(panel->sigmaRun(), runId_);
        auto* editor = window_->contextEditor()->findChild<QPlainTextEdit*>(QStringLiteral("contextEdit"));
        QVERIFY(!editor->extraSelections().isEmpty());
        int best = -1;
        for (std::size_t u = 0; u < map->units.size(); ++u)
            if (best < 0 || map->units[u].mattersFor.size() > map->units[std::size_t(best)].mattersFor.size())
                best = int(u);
        QVERIFY(!map->units[std::size_t(best)].mattersFor.empty());
        panel->selectUnit(best);
        QCOMPARE(panel->queryList()->topLevelItemCount(), int(map->units[std::size_t(best)].mattersFor.size()));
        QVERIFY(panel->summaryText().contains(QStringLiteral("σ of run")));
        // The stakeholder report carries the map: its summary, and the sentence that matters most.
        QTemporaryDir reportDir;
        QVERIFY(reportDir.isValid());
        const QString reportPath = reportDir.filePath(QStringLiteral("report.html"));
        QString error;
        QVERIFY2(window_->exportReportTo(reportPath, &error), qPrintable(error));
        QFile report(reportPath);
        QVERIFY(report.open(QIODevice::ReadOnly));
        const QString html = QString::fromUtf8(report.readAll());
        QVERIFY2(html.contains(QStringLiteral("What σ keeps of the context")), "no coverage section");
        QVERIFY(html.contains(QStringLiteral("σ of run %1 keeps").arg(panel->sigmaRun())));
        const QString topSentence = QString::fromStdString(map->units[std::size_t(best)].text).left(40);
        QVERIFY2(html.contains(topSentence.toHtmlEscaped()), qPrintable(topSentence));
        // Editing the text makes the map stale: the colours go.
        editor->appendPlainText(QStringLiteral("One more sentence."));
        QVERIFY(!panel->map());
        QVERIFY(editor->extraSelections().isEmpty());
    }

    void cleanupTestCase() { window_.reset(); }

private:
    std::unique_ptr<spui::MainWindow> window_;
    qint64 runId_ = 0;
};

SPUI_TEST_MAIN(TestPlayground)
#include "test_playground.moc"
