#include "EnglishPlurals.h"

#include <QHash>
#include <QRegularExpression>

QString EnglishPlurals::pluralOf(const QString& word)
{
    // The nouns ui/ counts with %n. Most add an "s"; the table keeps the irregular ones right too.
    static const QHash<QString, QString> plurals{
        {QStringLiteral("device"), QStringLiteral("devices")},
        {QStringLiteral("difference"), QStringLiteral("differences")},
        {QStringLiteral("duplicate"), QStringLiteral("duplicates")},
        {QStringLiteral("query"), QStringLiteral("queries")},
        {QStringLiteral("run"), QStringLiteral("runs")},
        {QStringLiteral("thread"), QStringLiteral("threads")},
    };
    return plurals.value(word);
}

QString EnglishPlurals::translate(const char*, const char* sourceText, const char*, int n) const
{
    if (n < 0 || !sourceText)
        return {};
    const QString source = QString::fromUtf8(sourceText);
    if (!source.contains(QLatin1String("%n")))
        return {};
    static const QRegularExpression countedWord(QStringLiteral("\\b([A-Za-z]+)\\(s\\)"));
    QString translated;
    qsizetype copiedUpTo = 0;
    QRegularExpressionMatchIterator matches = countedWord.globalMatch(source);
    while (matches.hasNext()) {
        const QRegularExpressionMatch match = matches.next();
        const QString word = match.captured(1);
        const QString plural = pluralOf(word);
        if (plural.isEmpty())
            continue; // unknown: stays "word(s)"
        translated += QStringView(source).mid(copiedUpTo, match.capturedStart() - copiedUpTo);
        translated += n == 1 ? word : plural;
        copiedUpTo = match.capturedEnd();
    }
    if (copiedUpTo == 0)
        return {};
    translated += QStringView(source).mid(copiedUpTo);
    return translated;
}
