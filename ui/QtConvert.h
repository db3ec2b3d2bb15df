#pragma once
// Conversions between core's std types and Qt's, in one place.
#include "softprompt/error.h"

#include <QCoreApplication>
#include <QString>
#include <QStringList>

#include <exception>
#include <string>
#include <vector>

namespace spui {

inline QString toQ(const std::string& text)
{
    return QString::fromStdString(text);
}
inline std::string toStd(const QString& text)
{
    return text.toStdString();
}

inline QStringList toQList(const std::vector<std::string>& items)
{
    QStringList list;
    list.reserve(int(items.size()));
    for (const std::string& item : items)
        list << toQ(item);
    return list;
}

// The GUI's advice for what core's error says to do (core names no control): the control that
// does it, empty for Remedy::None. The one place a Remedy becomes a widget of this GUI.
inline QString guiAdvice(sp::Remedy remedy)
{
    const char* advice = nullptr;
    switch (remedy) {
    case sp::Remedy::None:
        break;
    case sp::Remedy::ChooseDatabase:
        advice =
            QT_TRANSLATE_NOOP("spui::guiAdvice", "Choose another run database under File › Run database.");
        break;
    case sp::Remedy::UsePlainFormat:
        advice = QT_TRANSLATE_NOOP(
            "spui::guiAdvice", "Choose “Plain text: context, then the query” in the prompt format box under "
                               "the context.");
        break;
    case sp::Remedy::UseBfloat16:
        advice = QT_TRANSLATE_NOOP("spui::guiAdvice", "Choose bfloat16 in the model bar's dtype box.");
        break;
    case sp::Remedy::UseFloat32:
        advice = QT_TRANSLATE_NOOP("spui::guiAdvice", "Choose float32 in the model bar's dtype box.");
        break;
    case sp::Remedy::UseFloat32Compute:
        advice =
            QT_TRANSLATE_NOOP("spui::guiAdvice", "Choose bfloat16 or float32 in the model bar's dtype box.");
        break;
    case sp::Remedy::UseCpuDevice:
        advice = QT_TRANSLATE_NOOP("spui::guiAdvice", "Choose CPU in the model bar's Device box.");
        break;
    case sp::Remedy::ChooseModelFolder:
        advice = QT_TRANSLATE_NOOP("spui::guiAdvice",
                                   "Choose “Open Hugging Face folder…” in the model bar's Model box.");
        break;
    case sp::Remedy::RecomputeCoverage:
        advice = QT_TRANSLATE_NOOP("spui::guiAdvice", "Press Map coverage to compute it again.");
        break;
    case sp::Remedy::RunSweepLocally:
        advice =
            QT_TRANSLATE_NOOP("spui::guiAdvice", "Choose “this machine” under Run on in the sweep panel.");
        break;
    case sp::Remedy::ChooseSweepFolder:
        advice = QT_TRANSLATE_NOOP("spui::guiAdvice",
                                   "The sweep's folder goes beside the run database: choose one on a shared "
                                   "filesystem under File › Run database.");
        break;
    case sp::Remedy::CheckSlurmOptions:
        advice = QT_TRANSLATE_NOOP("spui::guiAdvice",
                                   "Check Partition, GPUs/task, CPUs/task and Time in the sweep panel.");
        break;
    case sp::Remedy::GiveSweepOption:
        break; // the grid file is the only place the workbench takes them from, as the message says
    }
    return advice ? QCoreApplication::translate("spui::guiAdvice", advice) : QString();
}

// An error's message as the GUI shows it: trimmed, then guiAdvice() of its remedy.
inline QString errorText(const std::string& message, sp::Remedy remedy)
{
    QString text = QString::fromStdString(message).trimmed();
    const QString advice = guiAdvice(remedy);
    if (advice.isEmpty())
        return text;
    if (!text.isEmpty() && !text.endsWith(QLatin1Char('.')))
        text += QLatin1Char('.');
    return text.isEmpty() ? advice : text + QLatin1Char(' ') + advice;
}
inline QString errorText(const std::exception& error)
{
    const auto* spError = dynamic_cast<const sp::Error*>(&error);
    return errorText(error.what(), spError ? spError->remedy() : sp::Remedy::None);
}

// A divergence with `digits` significant digits. Below a millionth of a nat it reads "0": that is
// the rounding left when the full context is compared with itself (3.6e-09 looked like a finding).
constexpr double kDivergenceNoise = 1e-6;
inline bool isDivergenceNoise(double value)
{
    return value > -kDivergenceNoise && value < kDivergenceNoise;
}
inline QString divergenceText(double value, int digits)
{
    return isDivergenceNoise(value) ? QStringLiteral("0") : QString::number(value, 'g', digits);
}

// "1.2 M", "125 M", "1.1 B": parameter counts as people say them.
inline QString humanCount(double count)
{
    if (count >= 1e9)
        return QString::number(count / 1e9, 'f', count >= 1e10 ? 0 : 1) + QStringLiteral(" B");
    if (count >= 1e6)
        return QString::number(count / 1e6, 'f', count >= 1e7 ? 0 : 1) + QStringLiteral(" M");
    if (count >= 1e3)
        return QString::number(count / 1e3, 'f', count >= 1e4 ? 0 : 1) + QStringLiteral(" k");
    return QString::number(count, 'f', 0);
}

// "1 min 05 s", "12 s": durations for the progress line.
inline QString humanDuration(double seconds)
{
    if (!(seconds >= 0.0))
        return QStringLiteral("–");
    const int total = int(seconds + 0.5);
    if (total >= 3600)
        return QStringLiteral("%1 h %2 min")
            .arg(total / 3600)
            .arg((total % 3600) / 60, 2, 10, QLatin1Char('0'));
    if (total >= 60)
        return QStringLiteral("%1 min %2 s").arg(total / 60).arg(total % 60, 2, 10, QLatin1Char('0'));
    return QStringLiteral("%1 s").arg(total);
}

} // namespace spui
