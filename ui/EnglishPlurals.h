#pragma once

#include <QTranslator>

// English plural forms for tr()'s "%n word(s)" strings. Qt picks a plural form only from a loaded
// translation, so without one the status bar read "CPU only, 1 thread(s)". This translator gives
// "1 thread" and "2 threads" instead, with no .qm file to build or keep in step with the sources.
// A word it does not know is left as "word(s)"; tests/ui/test_plurals.cpp finds every such string
// in ui/ and fails on a word missing from its table.
class EnglishPlurals : public QTranslator {
    Q_OBJECT
public:
    using QTranslator::QTranslator;

    // A null QString (no translation) unless n >= 0 and sourceText holds "%n" and a "word(s)".
    QString translate(const char* context, const char* sourceText, const char* disambiguation = nullptr,
                      int n = -1) const override;
    bool isEmpty() const override { return false; }

    // "query" → "queries": the plural of every word the UI counts with %n, or an empty string.
    static QString pluralOf(const QString& word);
};
