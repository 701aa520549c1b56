"""A tiny hand-written labelled set: a dozen texts of each category and of ordinary chatter."""

from __future__ import annotations

from classifiers.training import Example

# A tiny hand-written data set: a dozen of each category and a dozen of ordinary chatter.
TINY: dict[tuple[str, ...], list[str]] = {
    ("service_request",): [
        "my bin was not collected this week, can you send someone",
        "there is a pothole on station road please fix it",
        "the street light outside number 12 has been out for weeks",
        "can someone clear the fly tipping on the lane behind the shops",
        "how do I pay my council tax online, the page will not load",
        "the drain on park street is blocked and the road floods",
        "please can you empty the overflowing litter bin by the bus stop",
        "when will the recycling be collected after the bank holiday",
        "who do I contact about noise from the flat next door every night",
        "the pavement on high street is broken, someone will trip",
        "my garden waste bin was missed again, please collect it",
        "can you repair the swings in the playground, they are broken",
    ],
    ("abusive",): [
        "you are all useless idiots and should be sacked",
        "shut up you stupid moron",
        "what a pathetic bunch of losers running this town",
        "I hope you all rot, scum",
        "you absolute idiot, nobody cares what you think",
        "go away you disgusting creep",
        "stupid useless clowns the lot of you",
        "you are a moron and a liar",
        "pathetic idiots cannot even count",
        "get lost you stupid scum",
        "nobody likes you, you pathetic loser",
        "what a useless stupid idiot",
    ],
    ("misinformation",): [
        "the vaccine contains a microchip to track you",
        "5g masts spread the virus, wake up",
        "drinking bleach cures the virus, doctors hide it",
        "the council is secretly poisoning the water supply",
        "the virus is a hoax made up by the media",
        "they are putting chemicals in the vaccine to control people",
        "garlic cures covid, the truth they hide",
        "the election was rigged by the council with fake votes",
        "masks cause oxygen poisoning, proven fact",
        "the vaccine changes your dna forever",
        "covid was planned by the government to control us",
        "the media covers up the miracle cure",
    ],
    ("spam",): [
        "WIN a FREE iphone now, click the link http://bit.ly/x1",
        "check out my channel and subscribe for free gifts",
        "earn 500 pounds a day from home, message me on whatsapp",
        "cheap loans guaranteed, visit www.cash-now.example.com",
        "crypto investment doubles your money, dm me",
        "free giveaway, follow and click the link in bio",
        "buy followers cheap, best deal http://example.com/buy",
        "claim your prize now, limited offer, click here",
        "make money fast with bitcoin, join my telegram",
        "subscribe to my channel for a free prize",
        "discount code for cheap watches, visit my shop",
        "win cash prizes every day, sign up free http://x.example.org",
    ],
    (): [
        "lovely walk in the park this morning",
        "great turnout at the market on saturday",
        "the new library looks really nice",
        "thanks to everyone who came to the fun run",
        "beautiful sunset over the common tonight",
        "looking forward to the christmas lights switch on",
        "the flowers in the town centre look great",
        "had a nice coffee in the square today",
        "well done to the local football team",
        "what a lovely community event",
        "the band at the festival was brilliant",
        "happy to see the cinema open again",
    ],
}


def tiny_examples(copies: int = 1) -> list[Example]:
    """The tiny set; with ``copies`` > 1, that many variants of each text (enough for a
    validation part with five of each label set)."""
    return [
        Example(text if copy == 0 else f"{text} {copy}", frozenset(labels), "tiny")
        for copy in range(copies)
        for labels, texts in TINY.items()
        for text in texts
    ]
