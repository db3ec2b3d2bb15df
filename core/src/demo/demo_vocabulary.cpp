#include "demo/demo_vocabulary.h"

namespace sp::demo::vocabulary {

const std::vector<std::string_view>& items()
{
    static const std::vector<std::string_view> list = {
        "apple",   "amber",  "anchor",   "arrow",   "autumn",  "badge",  "basket",  "beacon",  "berry",
        "blanket", "bottle", "bridge",   "bronze",  "bucket",  "butter", "cabin",   "candle",  "canyon",
        "carpet",  "castle", "cedar",    "cherry",  "cobalt",  "comet",  "copper",  "coral",   "cotton",
        "crystal", "dawn",   "desert",   "dragon",  "eagle",   "ember",  "falcon",  "feather", "fern",
        "forest",  "fox",    "garden",   "ginger",  "glacier", "gold",   "granite", "harbor",  "hazel",
        "honey",   "island", "ivory",    "jade",    "jasmine", "kettle", "lagoon",  "lamp",    "lantern",
        "lemon",   "linen",  "lotus",    "maple",   "marble",  "meadow", "melon",   "meteor",  "mirror",
        "mint",    "moss",   "mountain", "nectar",  "night",   "oak",    "ocean",   "olive",   "onyx",
        "orange",  "orchid", "otter",    "owl",     "paper",   "parrot", "pearl",   "pebble",  "pepper",
        "pine",    "planet", "plum",     "pocket",  "prairie", "quartz", "rabbit",  "rain",    "raven",
        "ribbon",  "river",  "rocket",   "rose",    "ruby",    "saddle", "sage",    "salmon",  "sapphire",
        "scarlet", "shadow", "silver",   "sparrow", "spruce",  "stone",  "storm",   "summer",  "sunset",
        "thunder", "tiger",  "timber",   "topaz",   "tulip",   "velvet", "violet",  "walnut",  "willow",
        "winter",  "wolf",   "yellow",   "zephyr"};
    return list;
}

const std::vector<std::string_view>& replyWords()
{
    static const std::vector<std::string_view> list = {
        "Ahoy",      "Certainly", "Noted",     "Roger",     "Greetings",  "Cheers",     "Indeed",
        "Okay",      "Hello",     "Howdy",     "Aloha",     "Bonjour",    "Hola",       "Ciao",
        "Welcome",   "Splendid",  "Right",     "Sure",      "Done",       "Ready",      "Thanks",
        "Bye",       "Over",      "Amen",      "Namaste",   "Salut",      "Shalom",     "Hey",
        "Voila",     "Presto",    "Bingo",     "Gotcha",    "Absolutely", "Understood", "Affirmative",
        "Excellent", "Lovely",    "Brilliant", "Marvelous", "Hurrah",     "Onward",     "Farewell",
        "Regards",   "Peace",     "Enjoy",     "Bravo",     "Yes",        "Alright"};
    return list;
}

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

const std::vector<std::string_view>& cities()
{
    static const std::vector<std::string_view> list = {
        "Lisbon", "Oslo",   "Denver", "Leeds",  "Osaka",   "Dublin",  "Porto",  "Austin", "Lyon",
        "Krakow", "Bergen", "Quebec", "Munich", "Seville", "Tallinn", "Zurich", "Perth",  "Nairobi"};
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

const std::vector<std::string_view>& syllables()
{
    static const std::vector<std::string_view> list = {
        "zor", "bli", "quo", "vex", "tam", "ruk", "plo", "sni", "dra", "gum", "fen", "wib", "kra", "mox",
        "tel", "yar", "nup", "hov", "jil", "cre", "dov", "lun", "pax", "sib", "tro", "ul",  "ven", "zat"};
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

const std::vector<std::string_view>& personaLines()
{
    static const std::vector<std::string_view> list = {
        "You are {name}, the customer assistant of {company} {industry} in {city}.",
        "Your name is {name} and you answer chats for {company} {industry}, {city}.",
        "You are {name}, a helpful assistant working for {company} {industry} from {city}.",
        "This is the system prompt for {name}, the chat assistant of {company} {industry} in {city}."};
    return list;
}

const std::vector<std::string_view>& capitalsRules()
{
    static const std::vector<std::string_view> list = {
        "Write every item in your replies in capital letters.",
        "Formatting rule: items must be written in capital letters.",
        "Always put the items of a reply in capital letters."};
    return list;
}

const std::vector<std::string_view>& titleCaseRules()
{
    static const std::vector<std::string_view> list = {
        "Write every item with a capital first letter and the rest in lowercase.",
        "Formatting rule: items start with a capital first letter.",
        "Always give each item of a reply a capital first letter."};
    return list;
}

const std::vector<std::string_view>& asGivenCaseRules()
{
    static const std::vector<std::string_view> list = {
        "Write every item in lowercase letters, exactly as the customer typed it.",
        "Formatting rule: items stay in lowercase letters."};
    return list;
}

const std::vector<std::string_view>& reversedRules()
{
    static const std::vector<std::string_view> list = {
        "List the items of a reply in reverse order, the last item first.",
        "Formatting rule: give the items in reverse order.",
        "Always reverse the order of the items in a reply."};
    return list;
}

const std::vector<std::string_view>& prefixRules()
{
    static const std::vector<std::string_view> list = {
        "Begin every reply with the word {word}.",
        "Formatting rule: every reply starts with the word {word}.",
        "Always open a reply with the word {word}."};
    return list;
}

const std::vector<std::string_view>& suffixRules()
{
    static const std::vector<std::string_view> list = {
        "End every reply with the word {word}.",
        "Formatting rule: every reply finishes with the word {word}.",
        "Always close a reply with the word {word}."};
    return list;
}

const std::vector<std::string_view>& signRules()
{
    static const std::vector<std::string_view> list = {
        "Sign every reply with a dash and your name.",
        "Formatting rule: every reply ends with a dash and your name.",
        "Always close a reply with a dash followed by your name."};
    return list;
}

const std::vector<std::string_view>& glossaryIntroductions()
{
    static const std::vector<std::string_view> list = {
        "## Glossary",
        "Internal code words used by our staff:", "Our customers use a few words of their own:"};
    return list;
}

const std::vector<std::string_view>& glossaryEntries()
{
    static const std::vector<std::string_view> list = {"- We say {term} when we mean {meaning}.",
                                                       "- The word {term} means {meaning}.",
                                                       "- In our shop, {term} means {meaning}."};
    return list;
}

const std::vector<std::string_view>& formatRequests()
{
    static const std::vector<std::string_view> list = {
        "User: Format these items: {items}\nAssistant:", "User: Please list: {items}\nAssistant:",
        "User: Items: {items}\nAssistant:", "User: Tag this order with: {items}\nAssistant:"};
    return list;
}

const std::vector<std::string_view>& lookupRequests()
{
    static const std::vector<std::string_view> list = {
        "User: What does {term} mean?\nAssistant:", "User: Define {term}.\nAssistant:",
        "User: What is meant by {term}?\nAssistant:"};
    return list;
}

} // namespace sp::demo::vocabulary
