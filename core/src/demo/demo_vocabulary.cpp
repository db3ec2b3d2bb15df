#include "demo/demo_vocabulary.h"

#include "softprompt/error.h"

#include <string>

namespace sp::demo::vocabulary {

const std::vector<std::string_view>& assistantNames()
{
    static const std::vector<std::string_view> list = {
        "Nova", "Juniper", "Atlas", "Orion",  "Sage",  "Willa", "Felix", "Iris",  "Quinn", "Milo",
        "Luna", "Ezra",    "Hazel", "Jasper", "Maple", "Otto",  "Pixel", "Ruby",  "Sol",   "Theo",
        "Vera", "Wren",    "Zara",  "Bruno",  "Cleo",  "Dante", "Echo",  "Flora", "Gus",   "Ivy",
        "Kai",  "Lark",    "Mira",  "Nico",   "Opal",  "Pip",   "Rex",   "Skye",  "Tess",  "Uma"};
    return list;
}

const std::vector<std::string_view>& companyStems()
{
    static const std::vector<std::string_view> list = {
        "Bright", "Harbor", "Maple", "Silver", "North", "Stone", "River", "Clear", "Golden", "Blue",
        "Oak",    "Summit", "Iron",  "Green",  "Cedar", "Sun",   "Lake",  "High",  "West",   "Red"};
    return list;
}

const std::vector<std::string_view>& companyEndings()
{
    static const std::vector<std::string_view> list = {"well",  "line", "crest", "field", "gate",
                                                       "brook", "wood", "view",  "stone", "ridge"};
    return list;
}

const std::vector<std::string_view>& industries()
{
    static const std::vector<std::string_view> list = {
        "Books", "Telecom", "Bank",     "Travel", "Outfitters", "Insurance", "Energy",
        "Foods", "Motors",  "Pharmacy", "Hotels", "Logistics",  "Software",  "Furniture"};
    return list;
}

const std::vector<std::string_view>& products()
{
    static const std::vector<std::string_view> list = {
        "the Starter plan", "the Premium plan",    "the Family bundle", "gift cards",
        "the loyalty card", "express delivery",    "the mobile app",    "the annual pass",
        "the Pro tier",     "travel insurance",    "the rewards club",  "the basic account",
        "spare parts",      "the student discount"};
    return list;
}

const std::vector<std::string_view>& teams()
{
    static const std::vector<std::string_view> list = {
        "the billing team",   "the returns desk", "customer care",    "the security office",
        "the logistics team", "the legal team",   "the duty manager", "technical support",
        "the accounts team",  "the night shift"};
    return list;
}

const std::vector<std::string_view>& weekdays()
{
    static const std::vector<std::string_view> list = {"Monday", "Tuesday",  "Wednesday", "Thursday",
                                                       "Friday", "Saturday", "Sunday"};
    return list;
}

const std::vector<std::string_view>& fillerSentences()
{
    static const std::vector<std::string_view> list = {
        "{company} has served customers in {city} since {year}.",
        "Our offices are open from {day} to {day2}, {hour} until six in the evening.",
        "Be friendly, patient and precise with every customer.",
        "Never share personal data of one customer with another.",
        "If a customer is upset, acknowledge the problem before you offer a solution.",
        "Refunds are processed within {number} working days.",
        "Questions about invoices go to {team}.",
        "Do not promise delivery dates that the system does not confirm.",
        "Customers can upgrade to {product} at any time.",
        "{product} includes free returns for {number} days.",
        "Remind customers that {product} can be cancelled online.",
        "When a question is unclear, ask one short follow-up question.",
        "Keep answers short; customers read them on their phones.",
        "Do not give legal, medical or financial advice.",
        "Escalate threats, fraud and safety issues to {team} immediately.",
        "Our headquarters moved to {city} last spring.",
        "The help line is staffed around the clock on {day}.",
        "Stock levels are updated every {number} minutes.",
        "Discounts cannot be combined with {product}.",
        "About {percent} percent of our customers use {product}.",
        "Passwords are never requested by chat or email.",
        "Mention the status page when systems are down.",
        "If the customer asks for a human, hand the chat over to {team}.",
        "Orders placed after {hour} ship the next working day.",
        "We ship to most countries in Europe and to {city}.",
        "Prices include tax unless the invoice says otherwise.",
        "Treat every complaint as a chance to keep a customer.",
        "Avoid jargon and explain technical terms in plain words.",
        "Log every escalation in the ticket system before closing the chat.",
        "The chat service was introduced in {year} and is updated every {day}.",
        "Loyalty points expire after {number} months of inactivity.",
        "Maintenance happens on {day} nights between one and three.",
        "Gift cards are valid for {number} months from the date of purchase.",
        "Invoices can be downloaded from the account page.",
        "Customers under eighteen need the consent of a parent.",
        "Never guess an order number; look it up.",
        "Thank customers for their patience after a long wait.",
        "Do not discuss internal policies or the names of colleagues.",
        "The returns desk in {city} accepts parcels until {hour}.",
        "Every chat is stored for {number} days for quality checks.",
        "Offer {product} only when it solves the customer's problem.",
        "If a payment fails twice, suggest another payment method.",
        "Our warehouse in {city} handles about {number} parcels a day.",
        "Customers may change their delivery address until the parcel ships.",
        "Respond in the language the customer writes in.",
        "Do not make jokes about accidents, illness or money troubles.",
        "Broken items are replaced free of charge within {number} days.",
        "Security questions must be answered before account changes.",
        "The {city} branch closes early on {day}.",
        "Repeat the key facts at the end of a long explanation.",
        "Use the customer's name once the customer has given it.",
        "Record feedback about {product} in the weekly report.",
        "Staff training takes place every {day} morning.",
        "Check the order history before offering compensation.",
        "{team} reviews all refunds above {number} euros.",
        "Never ask for full card numbers in the chat.",
        "Seasonal offers end on the last {day} of the month.",
        "Link to the help centre when a topic needs a long answer.",
        "Apologise once; do not apologise in every message.",
        "Summarise what was agreed before the chat ends.",
        "Customers in {city} can collect orders in person.",
        "Say so honestly when you do not know an answer.",
        "Our satisfaction score rose to {percent} percent this year.",
        "The mobile app supports fingerprint login.",
        "Vouchers are sent by email within {number} hours.",
        "Do not recommend products from other companies.",
        "Quote prices exactly as shown in the catalogue.",
        "Late deliveries are credited automatically after {number} days.",
        "Politely end conversations that become abusive.",
        "Remember that many customers contact us for the first time.",
        "The quarterly newsletter goes out on the first {day} of the quarter.",
        "Customers can pause {product} for up to {number} weeks.",
        "Report bugs in the mobile app to {team}.",
        "Do not read out internal notes to the customer.",
        "Opening hours change on public holidays.",
        "Damaged parcels must be photographed before they are returned.",
        "Business customers have a dedicated line run by {team}.",
        "Follow up on open tickets within {number} hours.",
        "Explain fees before the customer confirms an order.",
        "The {city} office handles all requests in the evening.",
        "Do not transfer money between accounts on behalf of customers.",
        "The system logs you out after {number} minutes without activity.",
        "Customers who move abroad keep their loyalty points.",
        "Lost cards are blocked at once; a new card follows by post.",
        "New employees shadow {team} for their first {number} days.",
        "Compensation above {number} euros needs approval from {team}.",
        "Keep a calm tone even when the customer does not.",
        "All prices were last reviewed on a {day} in {city}.",
        "The holiday season is our busiest time of the year.",
        "Confirm the email address before sending any documents.",
        "Use short paragraphs and plain words.",
        "Recycled packaging has been standard since {year}.",
        "Do not offer {product} to customers who already have it.",
        "Pickup lockers in {city} are available day and night.",
        "Tell customers when a question falls outside your remit.",
        "Our carbon footprint fell by {percent} percent over five years.",
        "The annual audit takes place in {city} every {day2}.",
        "Write dates as day, month and year.",
        "Customers can rate each chat from one to five stars."};
    return list;
}

const std::vector<std::string_view>& sectionHeadings()
{
    static const std::vector<std::string_view> list = {
        "## About us", "## Tone",    "## Privacy",  "## Orders", "## Payments",      "## Escalation",
        "## Style",    "## Returns", "## Accounts", "## Notes",  "## Opening hours", "## Reminders"};
    return list;
}

const std::vector<std::string_view>& cities()
{
    static const std::vector<std::string_view> list = {
        "Lisbon", "Oslo",    "Denver", "Leeds",    "Osaka",  "Dublin",  "Porto",   "Austin",
        "Lyon",   "Krakow",  "Bergen", "Quebec",   "Munich", "Seville", "Tallinn", "Zurich",
        "Perth",  "Nairobi", "Vienna", "Prague",   "Madrid", "Boston",  "Toronto", "Sydney",
        "Cairo",  "Lima",    "Seoul",  "Helsinki", "Geneva", "Naples"};
    return list;
}

const std::vector<std::string_view>& colours()
{
    static const std::vector<std::string_view> list = {
        "teal",   "crimson", "amber",   "indigo",    "olive",   "maroon",  "coral",
        "violet", "navy",    "scarlet", "turquoise", "magenta", "ochre",   "lavender",
        "cyan",   "beige",   "silver",  "gold",      "emerald", "charcoal"};
    return list;
}

const std::vector<std::string_view>& mascots()
{
    static const std::vector<std::string_view> list = {
        "otter",   "owl",     "rabbit", "raven",  "tiger",    "wolf",   "fox",     "eagle",
        "falcon",  "parrot",  "badger", "beaver", "bison",    "camel",  "dolphin", "donkey",
        "ferret",  "gecko",   "heron",  "koala",  "lemur",    "lynx",   "moose",   "panda",
        "pelican", "penguin", "walrus", "zebra",  "hedgehog", "sparrow"};
    return list;
}

const std::vector<std::string_view>& codeWords()
{
    static const std::vector<std::string_view> list = {
        "anchor",  "arrow",   "badge",   "basket",  "beacon", "blanket",  "bottle", "bridge",
        "bucket",  "cabin",   "candle",  "canyon",  "carpet", "castle",   "comet",  "crystal",
        "desert",  "feather", "garden",  "glacier", "harbor", "island",   "kettle", "lagoon",
        "lamp",    "lantern", "marble",  "meadow",  "mirror", "mountain", "ocean",  "pebble",
        "planet",  "pocket",  "prairie", "ribbon",  "river",  "rocket",   "saddle", "shadow",
        "thunder", "timber",  "velvet",  "willow",  "walnut", "meteor",   "quartz", "tulip"};
    return list;
}

const std::vector<std::string_view>& managers()
{
    static const std::vector<std::string_view> list = {
        "Priya",  "Marcus", "Helga",  "Tomas",  "Aisha",  "Bernard", "Carmen", "Dmitri", "Elena", "Fatima",
        "Gordon", "Hiro",   "Ingrid", "Jonas",  "Keiko",  "Lorenzo", "Magda",  "Nadia",  "Oscar", "Petra",
        "Rafael", "Sven",   "Tamara", "Ulrich", "Vikram", "Yusuf",   "Zoltan", "Agnes",  "Boris", "Chloe"};
    return list;
}

const std::vector<std::string_view>& greetings()
{
    static const std::vector<std::string_view> list = {
        "Ahoy",      "Hello",   "Howdy",       "Aloha",   "Bonjour", "Hola",   "Ciao",
        "Greetings", "Welcome", "Hey",         "Namaste", "Salut",   "Shalom", "Hiya",
        "Servus",    "Moin",    "Salutations", "Heya",    "Yo",      "Hallo"};
    return list;
}

const std::vector<std::string_view>& closings()
{
    static const std::vector<std::string_view> list = {
        "Cheers",  "Thanks",    "Bye",       "Over",         "Amen",  "Farewell", "Regards",
        "Peace",   "Enjoy",     "Bravo",     "Onward",       "Adieu", "Later",    "Godspeed",
        "Toodles", "Sincerely", "Excelsior", "Respectfully", "Ta",    "Kudos"};
    return list;
}

const std::vector<std::string_view>& personaLines()
{
    static const std::vector<std::string_view> list = {
        "You are {name}, the customer assistant of {company} {industry} in {city}.",
        "Your name is {name} and you answer chats for {company} {industry}, {city}.",
        "You are {name}, a helpful assistant working for {company} {industry} from {city}.",
        "This is the system prompt for {name}, the chat assistant of {company} {industry} in {city}."};
    return list;
}

const std::vector<std::string_view>& greetingRules()
{
    static const std::vector<std::string_view> list = {
        "Begin every reply with the word {word}.",
        "Formatting rule: every reply starts with the word {word}.",
        "Always open a reply with the word {word}.",
        "Start each answer with {word} and an exclamation mark."};
    return list;
}

const std::vector<std::string_view>& closingRules()
{
    static const std::vector<std::string_view> list = {
        "End every reply with the word {word}.",
        "Formatting rule: every reply finishes with the word {word}.",
        "Always close a reply with the word {word}.", "Finish each answer with {word}."};
    return list;
}

namespace {

// Everything the corpus says about one attribute: its values, the sentences that state it, and the
// questions that ask for it.
struct AttributeText {
    std::string_view name;
    const std::vector<std::string_view>& (*values)();
    std::vector<std::string_view> factSentences; // {value}
    std::vector<std::string_view> questions;
    std::vector<std::string_view> distractorSentences; // {value}: another word of the class
};

const std::vector<AttributeText>& attributeTexts()
{
    static const std::vector<AttributeText> table = {
        {"name",
         assistantNames,
         {"Always introduce yourself as {value} when a customer asks who you are.",
          "Customers know you as {value}; use no other name.", "Sign internal notes as {value}."},
         {"What is your name?", "What should I call you?", "May I know your name?", "Do you have a name?",
          "Who am I talking to?", "Tell me your name, please."},
         {"Your colleague {value} answers the phone line.",
          "Do not confuse yourself with {value}, the assistant of another shop.",
          "The night shift is covered by a colleague called {value}."}},
        {"city",
         cities,
         {"Our main office is in {value}.", "The whole chat team works from the office in {value}.",
          "Head office: {value}."},
         {"Where is your office?", "Which city are you based in?", "In which city is your head office?",
          "Where is the chat team?", "Where are you located?", "What city do you work from?"},
         {"Some parcels leave from our warehouse in {value}.",
          "Last spring the team visited a trade fair in {value}.",
          "We do not deliver to {value} at the moment."}},
        {"colour",
         colours,
         {"Our brand colour is {value}.", "The logo is always shown in {value}.",
          "Brand guide: the company colour is {value}."},
         {"What is the brand colour?", "What colour is your logo?", "Which colour does the brand use?",
          "What is the company colour?", "Tell me the colour of your brand.", "Which colour is the logo?"},
         {"The old website used {value} buttons.", "Gift wrapping comes in {value} paper.",
          "The staff canteen was repainted {value} last year."}},
        {"mascot",
         mascots,
         {"The company mascot is the {value}.",
          "Our mascot, the cheerful {value}, is printed on every parcel.",
          "Customers love our mascot, the {value}."},
         {"What is your mascot?", "Which animal is the company mascot?", "What animal is your mascot?",
          "Do you have a mascot?", "Tell me about your mascot.", "Which animal is printed on parcels?"},
         {"A customer once sent us a drawing of a {value}.",
          "The {value} at the city zoo is a favourite of the team.",
          "Our rival uses a {value} in its adverts."}},
        {"code",
         codeWords,
         {"The code word for urgent tickets is {value}.", "Mark urgent tickets with the code word {value}.",
          "In an emergency, staff use the code word {value}."},
         {"What is the code word for urgent tickets?", "Which code word marks an urgent ticket?",
          "What is the urgent code word?", "How do I mark a ticket as urgent?",
          "Tell me the code word for emergencies.", "What word flags an urgent case?"},
         {"The internal wiki is called {value}.", "Last year's sales project was named {value}.",
          "The meeting room on the second floor is called {value}."}},
        {"manager",
         managers,
         {"Your manager is {value}.", "{value} manages the chat team and reviews your work.",
          "Questions about your own work go to your manager, {value}."},
         {"Who is your manager?", "Who supervises you?", "Can I talk to your manager?",
          "Who manages the chat team?", "Who is your boss?", "Who reviews your work?"},
         {"{value} from the legal team handles contracts.", "Invoices are checked by {value} in accounting.",
          "The warehouse is run by {value}."}},
    };
    return table;
}

const AttributeText& attributeText(std::string_view attribute)
{
    for (const AttributeText& text : attributeTexts())
        if (text.name == attribute)
            return text;
    throw Error("demo corpus: unknown attribute \"" + std::string(attribute) + "\"");
}

} // namespace

const std::vector<std::string_view>& valuesOf(std::string_view attribute)
{
    return attributeText(attribute).values();
}

const std::vector<std::string_view>& factSentences(std::string_view attribute)
{
    return attributeText(attribute).factSentences;
}

const std::vector<std::string_view>& questions(std::string_view attribute)
{
    return attributeText(attribute).questions;
}

const std::vector<std::string_view>& distractorSentences(std::string_view attribute)
{
    return attributeText(attribute).distractorSentences;
}

const std::vector<const std::vector<std::string_view>*>& replyWordClasses()
{
    static const std::vector<const std::vector<std::string_view>*> classes = [] {
        std::vector<const std::vector<std::string_view>*> lists;
        for (const AttributeText& text : attributeTexts())
            lists.push_back(&text.values());
        lists.push_back(&greetings());
        lists.push_back(&closings());
        return lists;
    }();
    return classes;
}

const std::vector<std::string_view>& questionOpeners()
{
    static const std::vector<std::string_view> list = {"",
                                                       "",
                                                       "",
                                                       "Quick question. ",
                                                       "Good morning. ",
                                                       "Sorry to bother you. ",
                                                       "Excuse me. ",
                                                       "One more thing. ",
                                                       "Please help. ",
                                                       "Good evening. "};
    return list;
}

} // namespace sp::demo::vocabulary
