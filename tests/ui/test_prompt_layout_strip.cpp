// The Context tab's prompt layout strip, [pre][context → σ][mid][query][post], on the demo model
// (whose tokenizer_config.json carries its chat template) and on a copy of it without a template:
// what each box shows, the format chooser driving the session, the no-context line, and the note
// that says why the chat format is unavailable.
#include "PromptLayoutStrip.h"
#include "QtConvert.h"
#include "Session.h"
#include "softprompt/paths.h"
#include "ui_test_support.h"

#include <QComboBox>
#include <QDir>
#include <QFile>
#include <QLabel>
#include <QTemporaryDir>

#include <nlohmann/json.hpp>

namespace {

constexpr int kModelTimeoutMs = 120000;

QString boxText(const spui::PromptLayoutStrip& strip, const char* name)
{
    const auto* label = strip.findChild<QLabel*>(QLatin1String(name));
    return label ? label->text() : QStringLiteral("<no %1>").arg(QLatin1String(name));
}

void choose(spui::PromptLayoutStrip& strip, sp::PromptFormat format)
{
    QComboBox* chooser = strip.formatChooser();
    chooser->setCurrentIndex(chooser->findData(int(format)));
}

// Copies the demo model `demo` into `copy` with its tokenizer_config.json changed by `edit`;
// false when a file cannot be copied, read or written, or when `edit` returns false.
template <typename Edit>
bool copyDemoWithTokenizerConfig(const QString& demo, const QTemporaryDir& copy, Edit edit)
{
    if (!copy.isValid())
        return false;
    for (const char* name : {"config.json", "model.safetensors", "tokenizer.json"})
        if (!QFile::copy(demo + "/" + name, copy.filePath(name)))
            return false;
    QFile original(demo + "/tokenizer_config.json");
    if (!original.open(QIODevice::ReadOnly))
        return false;
    nlohmann::json config = nlohmann::json::parse(original.readAll().toStdString());
    if (!edit(config))
        return false;
    QFile edited(copy.filePath("tokenizer_config.json"));
    if (!edited.open(QIODevice::WriteOnly))
        return false;
    return edited.write(QByteArray::fromStdString(config.dump())) > 0;
}

} // namespace

class TestPromptLayoutStrip : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void initTestCase()
    {
        try {
            demo_ = QString::fromStdString(sp::demoModelDirectory());
        } catch (const std::exception& error) {
            QSKIP(qPrintable(QStringLiteral("the demo model is not available: %1").arg(error.what())));
        }
        if (!QFile::exists(demo_ + "/model.safetensors"))
            QSKIP("the demo model has no weights");
    }

    void withoutAModelItSaysWhatToDo()
    {
        spui::Session session;
        spui::PromptLayoutStrip strip(&session);
        QVERIFY2(strip.noteText().contains("Load a model"), qPrintable(strip.noteText()));
        QCOMPARE(boxText(strip, "layoutMid"), QStringLiteral("∅"));
    }

    // The demo's template: [c]["\nUser: "][z]["\nAssistant:"]; Plain drops the markers; the chooser
    // and the session agree both ways.
    void demoTemplateAndTheChooser()
    {
        spui::Session session;
        spui::PromptLayoutStrip strip(&session);
        QVERIFY(session.loadModel(demo_, sp::ModelLoadOptions()));
        QTRY_VERIFY_WITH_TIMEOUT(session.hasModel() && !session.isBusy(), kModelTimeoutMs);

        QCOMPARE(session.promptFormat(), sp::PromptFormat::Auto);
        QCOMPARE(strip.pieces().format, sp::PromptFormat::Chat);
        QCOMPARE(boxText(strip, "layoutMid"), QStringLiteral("↵User:␣"));
        QCOMPARE(boxText(strip, "layoutPost"), QStringLiteral("↵Assistant:"));
        QCOMPARE(boxText(strip, "layoutPre"), QStringLiteral("∅"));
        const QString noContext = strip.findChild<QLabel*>("layoutNoContext")->text();
        QVERIFY2(noContext.contains("User:␣"), qPrintable(noContext));
        QVERIFY2(strip.noteText().isEmpty(), qPrintable(strip.noteText()));

        choose(strip, sp::PromptFormat::Plain);
        QCOMPARE(session.promptFormat(), sp::PromptFormat::Plain);
        QCOMPARE(strip.pieces().format, sp::PromptFormat::Plain);
        QCOMPARE(boxText(strip, "layoutMid"), QStringLiteral("∅"));
        QCOMPARE(boxText(strip, "layoutPost"), QStringLiteral("∅"));

        session.setPromptFormat(sp::PromptFormat::Chat); // from elsewhere (a project, a stored run)
        QCOMPARE(strip.formatChooser()->currentData().toInt(), int(sp::PromptFormat::Chat));
        QCOMPARE(boxText(strip, "layoutMid"), QStringLiteral("↵User:␣"));
    }

    // A model without a chat template: Auto is plain text and says so; Chat is refused in words.
    void modelWithoutATemplate()
    {
        QTemporaryDir copy;
        QVERIFY(copyDemoWithTokenizerConfig(demo_, copy, [](nlohmann::json& config) {
            return config.erase("chat_template") == 1;
        }));

        spui::Session session;
        spui::PromptLayoutStrip strip(&session);
        QVERIFY(session.loadModel(copy.path(), sp::ModelLoadOptions()));
        QTRY_VERIFY_WITH_TIMEOUT(session.hasModel() && !session.isBusy(), kModelTimeoutMs);
        QCOMPARE(strip.pieces().format, sp::PromptFormat::Plain);
        QVERIFY2(strip.noteText().contains("no chat template"), qPrintable(strip.noteText()));

        choose(strip, sp::PromptFormat::Chat);
        QVERIFY2(strip.noteText().startsWith("The chat format is not available"), qPrintable(strip.noteText()));
        QCOMPARE(boxText(strip, "layoutMid"), QStringLiteral("∅"));
    }

    // Core's errors name no GUI control; the GUI adds the one that does what the message says, per
    // sp::Remedy (spui::guiAdvice): here the chooser's own Plain item, for a template that drops the
    // messages' content.
    void templateItCannotFollowNamesThePlainChoice()
    {
        QTemporaryDir copy;
        QVERIFY(copyDemoWithTokenizerConfig(demo_, copy, [](nlohmann::json& config) {
            config["chat_template"] = "{% for m in messages %}<{{ m.role }}>{% endfor %}";
            return true;
        }));

        spui::Session session;
        spui::PromptLayoutStrip strip(&session);
        QVERIFY(session.loadModel(copy.path(), sp::ModelLoadOptions()));
        QTRY_VERIFY_WITH_TIMEOUT(session.hasModel() && !session.isBusy(), kModelTimeoutMs);
        choose(strip, sp::PromptFormat::Chat);
        const QString note = strip.noteText();
        const QComboBox* chooser = strip.formatChooser();
        const QString plainItem = chooser->itemText(chooser->findData(int(sp::PromptFormat::Plain)));
        QVERIFY2(note.contains("use the plain prompt format") && note.contains(plainItem) &&
                     !note.contains("--"),
                 qPrintable(note));
    }

    // The mapping itself: advice for every remedy but None (and GiveSweepOption: the grid file, which
    // the message names, is where the GUI takes a sweep's options from), and how it follows core's
    // message.
    void adviceFollowsCoreMessage()
    {
        QVERIFY(spui::guiAdvice(sp::Remedy::None).isEmpty());
        QVERIFY(spui::guiAdvice(sp::Remedy::GiveSweepOption).isEmpty());
        for (const sp::Remedy remedy :
             {sp::Remedy::ChooseDatabase, sp::Remedy::UsePlainFormat, sp::Remedy::UseBfloat16,
              sp::Remedy::UseFloat32, sp::Remedy::UseFloat32Compute, sp::Remedy::UseCpuDevice,
              sp::Remedy::ChooseModelFolder, sp::Remedy::RecomputeCoverage, sp::Remedy::RunSweepLocally,
              sp::Remedy::ChooseSweepFolder, sp::Remedy::CheckSlurmOptions}) {
            const QString advice = spui::guiAdvice(remedy);
            QVERIFY2(!advice.isEmpty() && !advice.contains("--"), qPrintable(advice));
        }
        QVERIFY(spui::guiAdvice(sp::Remedy::UseBfloat16).contains("bfloat16"));
        QVERIFY(spui::guiAdvice(sp::Remedy::UseCpuDevice).contains("CPU"));
        QVERIFY(spui::guiAdvice(sp::Remedy::ChooseDatabase).contains("File › Run database"));
        QCOMPARE(spui::errorText(sp::Error("CUDA is not available; use the CPU ", sp::Remedy::UseCpuDevice)),
                 "CUDA is not available; use the CPU. " + spui::guiAdvice(sp::Remedy::UseCpuDevice));
        QCOMPARE(spui::errorText(sp::Error("no runs yet.")), QStringLiteral("no runs yet."));
        const std::runtime_error plain("not an sp::Error");
        QCOMPARE(spui::errorText(plain), QStringLiteral("not an sp::Error"));
    }

private:
    QString demo_;
};

QTEST_MAIN(TestPromptLayoutStrip)
#include "test_prompt_layout_strip.moc"
