#pragma once
// Conversions between core's std types and Qt's, in one place.
#include <QString>
#include <QStringList>

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
