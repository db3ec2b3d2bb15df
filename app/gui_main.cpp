#include "CompareView.h"
#include "CoverageMap.h"
#include "EnglishPlurals.h"
#include "MainWindow.h"
#include "PlaygroundTab.h"
#include "QueryTableModel.h"
#include "RunsBrowser.h"
#include "RunsModel.h"
#include "Session.h"
#include "SigmaInspector.h"
#include "TrainingPanel.h"
#include "softprompt/version.h"

#include <QApplication>
#include <QCommandLineParser>
#include <QDir>
#include <QEventLoop>
#include <QFileInfo>
#include <QIcon>
#include <QLineEdit>
#include <QPointer>
#include <QScreen>
#include <QTextBrowser>
#include <QToolTip>
#include <QTreeWidget>
#include <QSpinBox>
#include <QTabWidget>
#include <QTimer>

#include <cstdio>
#include <map>

namespace {

// Drives the window from the command line for reproducible screenshots: wait for the model,
// optionally run a compression sweep and a training run on the loaded example, then save the
// window (or every tab) as PNG files and quit.
class Autopilot : public QObject {
public:
    Autopilot(spui::MainWindow* window, const QCommandLineParser& parser, const QCommandLineOption& runDemo,
              const QCommandLineOption& steps, const QCommandLineOption& sweep, const QCommandLineOption& tab,
              const QCommandLineOption& screenshot, const QCommandLineOption& screenshotDir)
        : QObject(window), window_(window)
    {
        runDemo_ = parser.isSet(runDemo);
        steps_ = parser.value(steps).toInt();
        sweep_ = parser.value(sweep);
        tab_ = parser.value(tab);
        screenshot_ = parser.value(screenshot);
        screenshotDir_ = parser.value(screenshotDir);
    }

    void setReport(const QString& path) { report_ = path; }
    // Issue 21's views: ask the Playground a question (σ of `run`, or of the newest run), hover a
    // token of σ's answer, and map the coverage of the context.
    void setPlayground(const QString& question, qint64 run, bool hover)
    {
        ask_ = question;
        askRun_ = run;
        hover_ = hover;
    }
    void setCoverage(bool coverage) { coverage_ = coverage; }

    int captureDelayMs = 1500;

    bool needsModel() const { return runDemo_ || !sweep_.isEmpty() || !ask_.isEmpty() || coverage_; }

    void start()
    {
        spui::Session* session = window_->session();
        connect(session, &spui::Session::modelLoadFailed, this,
                [](const QString& source, const QString& message) {
                    std::fprintf(stderr, "softprompt-workbench: could not load %s: %s\n", qPrintable(source),
                                 qPrintable(message));
                    QApplication::exit(1);
                });
        if (!needsModel()) {
            QTimer::singleShot(captureDelayMs, this, &Autopilot::capture);
            return;
        }
        if (session->hasModel() && !session->isBusy())
            next();
        else
            connect(session, &spui::Session::modelChanged, this, &Autopilot::next, Qt::QueuedConnection);
        connect(session->worker(), &spui::TrainingWorker::trainingFinished, this,
                [this](const spui::TrainingOutcome& outcome) {
                    if (outcome.status == sp::RunStatus::Failed) {
                        std::fprintf(stderr, "softprompt-workbench: the run failed: %s\n",
                                     qPrintable(outcome.message));
                        QApplication::exit(1);
                        return;
                    }
                    QTimer::singleShot(300, this, &Autopilot::next);
                });
    }

private:
    void next()
    {
        spui::TrainingPanel* panel = window_->trainingPanel();
        if (steps_ > 0)
            panel->findChild<QSpinBox*>(QStringLiteral("stepsBox"))->setValue(steps_);
        if (!sweep_.isEmpty() && !sweepDone_) {
            sweepDone_ = true;
            panel->findChild<QLineEdit*>(QStringLiteral("sweepKsEdit"))->setText(sweep_);
            window_->showTab(QStringLiteral("train"));
            panel->startSweep();
            return;
        }
        if (runDemo_ && !runDone_) {
            runDone_ = true;
            window_->showTab(QStringLiteral("train"));
            panel->start();
            return;
        }
        if (!ask_.isEmpty() && !askDone_) {
            askDone_ = true;
            spui::PlaygroundTab* playground = window_->playgroundTab();
            window_->showTab(QStringLiteral("playground"));
            playground->refreshRuns();
            if (askRun_ > 0 && !playground->selectRun(askRun_))
                std::fprintf(stderr, "softprompt-workbench: run %lld is not in the playground's list\n",
                             static_cast<long long>(askRun_));
            connect(playground, &spui::PlaygroundTab::generationFinished, this,
                    [this] { QTimer::singleShot(300, this, &Autopilot::next); }, Qt::SingleShotConnection);
            playground->setQuestion(ask_);
            QString why;
            if (!playground->ask(&why)) {
                std::fprintf(stderr, "softprompt-workbench: could not ask: %s\n", qPrintable(why));
                QApplication::exit(1);
            }
            return;
        }
        if (coverage_ && !coverageDone_) {
            coverageDone_ = true;
            spui::CoveragePanel* panel = window_->coveragePanel();
            panel->setFallbackRun(askRun_);
            // Two queries per answer keep the screenshot's leave-one-out passes short.
            std::map<std::string, int> perAnswer;
            std::vector<sp::Query> kept;
            for (const sp::Query& query : window_->session()->queries()->queries())
                if (query.target.empty() || ++perAnswer[query.target] <= 2)
                    kept.push_back(query);
            window_->session()->queries()->setQueries(kept);
            window_->showTab(QStringLiteral("context"));
            connect(panel, &spui::CoveragePanel::mapReady, this, [this] {
                // Show the queries of the sentence that matters to most queries.
                QTreeWidget* units = window_->coveragePanel()->unitList();
                if (units->topLevelItemCount() > 0)
                    units->setCurrentItem(units->topLevelItem(0));
                QTimer::singleShot(300, this, &Autopilot::next);
            }, Qt::SingleShotConnection);
            connect(panel, &spui::CoveragePanel::mapFailed, this, [](const QString& message) {
                std::fprintf(stderr, "softprompt-workbench: the coverage map failed: %s\n", qPrintable(message));
                QApplication::exit(1);
            });
            QString why;
            if (!panel->compute(&why)) {
                std::fprintf(stderr, "softprompt-workbench: could not map coverage: %s\n", qPrintable(why));
                QApplication::exit(1);
            }
            return;
        }
        window_->sigmaInspector()->inspect();
        QTimer::singleShot(1500, this, &Autopilot::capture);
    }

    // Hovers the σ answer's first token that the full context finds unlikely (else its second), so
    // that the screenshot shows the top-k comparison.
    void hoverSigmaToken()
    {
        spui::PlaygroundTab* playground = window_->playgroundTab();
        const int turn = playground->turnCount(sp::Condition::SoftPrompt) - 1;
        if (turn < 0)
            return;
        playground->showTokenDetail(sp::Condition::SoftPrompt, turn, 2); // " Lisbon" in " Ahoy! Lisbon."
    }

    void capture()
    {
        if (!screenshotDir_.isEmpty()) {
            QDir().mkpath(screenshotDir_);
            const QStringList keys = spui::MainWindow::tabKeys();
            for (int i = 0; i < keys.size(); ++i) {
                window_->showTab(keys[i]);
                if (keys[i] == QLatin1String("compare"))
                    window_->compareView()->selectRow(0);
                if (keys[i] == QLatin1String("runs")) { // overlay every run's curve
                    std::vector<std::int64_t> ids;
                    const spui::RunsModel* runs = window_->runsBrowser()->model();
                    for (int row = 0; row < runs->rowCount(); ++row)
                        ids.push_back(runs->runAt(row)->id);
                    window_->runsBrowser()->selectRuns(ids);
                }
                QApplication::processEvents();
                QEventLoop settle;
                QTimer::singleShot(400, &settle, &QEventLoop::quit); // let merged replots land
                settle.exec();
                const QString path =
                    QDir(screenshotDir_).filePath(QStringLiteral("%1-%2.png").arg(i + 1).arg(keys[i]));
                if (!window_->grab().save(path))
                    std::fprintf(stderr, "softprompt-workbench: could not write %s\n", qPrintable(path));
            }
        }
        if (!report_.isEmpty()) {
            QString error;
            if (!window_->exportReportTo(report_, &error))
                std::fprintf(stderr, "softprompt-workbench: could not write the report: %s\n",
                             qPrintable(error));
        }
        if (!tab_.isEmpty())
            window_->showTab(tab_);
        if (!screenshot_.isEmpty() && hover_ && window_->tabs()->currentWidget() == window_->playgroundTab()) {
            hoverSigmaToken();
            QEventLoop settle;
            QTimer::singleShot(600, &settle, &QEventLoop::quit);
            settle.exec();
            if (!window_->grab().save(screenshot_))
                std::fprintf(stderr, "softprompt-workbench: could not write %s\n", qPrintable(screenshot_));
        } else if (!screenshot_.isEmpty()) {
            QApplication::processEvents();
            if (!window_->grab().save(screenshot_))
                std::fprintf(stderr, "softprompt-workbench: could not write %s\n", qPrintable(screenshot_));
        }
        QApplication::quit();
    }

    QPointer<spui::MainWindow> window_;
    bool runDemo_ = false;
    int steps_ = 0;
    QString sweep_, tab_, screenshot_, screenshotDir_, report_, ask_;
    qint64 askRun_ = 0;
    bool hover_ = false, coverage_ = false, askDone_ = false, coverageDone_ = false;
    bool sweepDone_ = false, runDone_ = false;
};

} // namespace

int main(int argc, char** argv)
{
    QApplication application(argc, argv);
    QApplication::setApplicationName("softprompt-workbench");
    QApplication::setApplicationDisplayName("SoftPrompt Workbench");
    QApplication::setOrganizationName("softprompt-workbench");
    QApplication::setApplicationVersion(QString::fromStdString(sp::projectVersion()));
    // Wayland compositors and desktop shells match the window to its launcher by this id: the name of
    // packaging/io.softprompt.Workbench.desktop without ".desktop".
    QGuiApplication::setDesktopFileName("io.softprompt.Workbench");
    QApplication::setWindowIcon(QIcon(":/icons/softprompt-workbench.svg"));
    // "1 thread", not "1 thread(s)": English plural forms without a .qm file (ui/EnglishPlurals.h).
    EnglishPlurals englishPlurals;
    QApplication::installTranslator(&englishPlurals);

    QCommandLineParser parser;
    parser.setApplicationDescription("Compress long prompts into learned soft prompts.");
    parser.addHelpOption();
    parser.addVersionOption();
    QCommandLineOption screenshotOption("screenshot", "Save a screenshot of the window to FILE, then quit.",
                                        "FILE");
    QCommandLineOption screenshotDirOption("screenshot-dir",
                                           "Save a screenshot of every tab into DIR, then quit.", "DIR");
    QCommandLineOption quitAfterOption("quit-after", "Quit after MS milliseconds (for smoke tests).", "MS");
    QCommandLineOption tabOption(
        "tab", "Show this tab: context, queries, train, compare, runs, sweep, sigma, playground.", "NAME");
    QCommandLineOption askOption("ask", "Ask the Playground this question (after --run-demo, with its σ).",
                                 "QUESTION");
    QCommandLineOption askRunOption("ask-run", "The stored run whose σ --ask uses (default: the newest).", "ID");
    QCommandLineOption hoverOption("hover", "With --ask and --screenshot: show the top-k of a σ token.");
    QCommandLineOption coverageOption("coverage", "Map the context's coverage (with the run's σ), then capture.");
    QCommandLineOption runDemoOption("run-demo", "Train σ on the opened example once the model is loaded.");
    QCommandLineOption stepsOption("steps", "Training steps for --run-demo and --sweep.", "N");
    QCommandLineOption sweepOption("sweep", "Run a compression sweep over these k first (e.g. 1,2,4,8).",
                                   "KS");
    QCommandLineOption dbOption("db", "Use this run database instead of the default one.", "PATH");
    QCommandLineOption sizeOption("size", "Window size, e.g. 1400x900.", "WxH");
    QCommandLineOption contextOption(
        "context", "Open this UTF-8 text file as the context (an unsaved change to the project).", "FILE");
    QCommandLineOption reportOption(
        "report", "After --run-demo, write the stakeholder report (.html or .pdf).", "FILE");
    for (const QCommandLineOption& option :
         {screenshotOption, screenshotDirOption, quitAfterOption, tabOption, runDemoOption, stepsOption,
          sweepOption, dbOption, sizeOption, reportOption, contextOption, askOption, askRunOption, hoverOption,
          coverageOption})
        parser.addOption(option);
    parser.addPositionalArgument("project", "A workbench project (.spwb) to open.", "[project]");
    parser.process(application);

    spui::MainWindow window;
    if (parser.isSet(dbOption))
        window.session()->setDatabasePath(QFileInfo(parser.value(dbOption)).absoluteFilePath());
    window.startUp();
    if (parser.isSet(dbOption))
        window.session()->setDatabasePath(QFileInfo(parser.value(dbOption)).absoluteFilePath());
    if (!parser.positionalArguments().isEmpty()) {
        QString error;
        if (!window.openProject(parser.positionalArguments().constFirst(), &error)) {
            std::fprintf(stderr, "softprompt-workbench: %s\n", qPrintable(error));
            return 1;
        }
    }
    if (parser.isSet(contextOption)) {
        QString error;
        if (!window.openContextPath(parser.value(contextOption), &error)) {
            std::fprintf(stderr, "softprompt-workbench: %s\n", qPrintable(error));
            return 1;
        }
    }
    if (parser.isSet(sizeOption)) {
        const QStringList size = parser.value(sizeOption).split('x');
        if (size.size() == 2)
            window.resize(size[0].toInt(), size[1].toInt());
    }
    if (parser.isSet(tabOption) && !window.showTab(parser.value(tabOption))) {
        std::fprintf(stderr, "softprompt-workbench: unknown tab \"%s\"; use one of: %s\n",
                     qPrintable(parser.value(tabOption)), qPrintable(spui::MainWindow::tabKeys().join(", ")));
        return 1;
    }
    window.show();

    const bool autopilot = parser.isSet(runDemoOption) || parser.isSet(sweepOption) ||
                           parser.isSet(screenshotOption) || parser.isSet(screenshotDirOption) ||
                           parser.isSet(reportOption) || parser.isSet(askOption) || parser.isSet(coverageOption);
    const int quitAfterMs = parser.value(quitAfterOption).toInt();
    if (autopilot) {
        auto* pilot = new Autopilot(&window, parser, runDemoOption, stepsOption, sweepOption, tabOption,
                                    screenshotOption, screenshotDirOption);
        pilot->setReport(parser.value(reportOption));
        pilot->setPlayground(parser.value(askOption), parser.value(askRunOption).toLongLong(),
                             parser.isSet(hoverOption));
        pilot->setCoverage(parser.isSet(coverageOption));
        if (!pilot->needsModel()) {
            // A plain screenshot is taken at --quit-after (the window has settled by then).
            if (quitAfterMs > 0)
                pilot->captureDelayMs = quitAfterMs;
        } else if (quitAfterMs > 0) {
            QTimer::singleShot(quitAfterMs, &application, [] {
                std::fprintf(stderr, "softprompt-workbench: --quit-after elapsed before the run finished\n");
                QApplication::exit(2);
            });
        }
        pilot->start();
    } else if (quitAfterMs > 0) {
        QTimer::singleShot(quitAfterMs, &application, &QApplication::quit);
    }
    return QApplication::exec();
}
