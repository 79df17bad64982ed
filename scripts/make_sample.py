#!/usr/bin/env python3
"""Writes the repo's own sample collection (BEIR layout) to tests/fixtures/sample/.

A few hundred short passages about everyday science and technology topics, built from hand-written
facet sentences so that queries have several relevant passages each (qrels list them all), plus
near-duplicates and distractors from neighbouring topics: enough structure for mining, false-negative
audits and counterfactual edits. Deterministic (seeded); rerun only to change the sample.

usage: make_sample.py OUT_DIR
"""
import json, random, sys
from pathlib import Path

TOPICS = {
    "honey bees": {
        "pollination": ["Honey bees pollinate about {n} percent of the crops grown for food.", "A single colony can visit millions of flowers in one season, which makes bees important pollinators."],
        "colony": ["A healthy colony holds between {n} and {m} thousand worker bees in summer.", "The queen is the only fertile female and can lay up to {n} hundred eggs a day."],
        "decline": ["Colony losses increased after the spread of the varroa mite.", "Pesticides such as neonicotinoids are not harmless to foraging bees."],
    },
    "volcanoes": {
        "eruption": ["Explosive eruptions happen when gas-rich magma rises quickly.", "The 1980 eruption of Mount St. Helens removed the top {n} metres of the mountain."],
        "monitoring": ["Seismometers detect small earthquakes that often come before an eruption.", "Satellites measure ground swelling of a few centimetres above a magma chamber."],
        "soil": ["Volcanic ash weathers into fertile soil that farmers value.", "Soils near volcanoes are rich in potassium and phosphorus."],
    },
    "solar panels": {
        "efficiency": ["Typical silicon panels convert about {n} percent of sunlight into electricity.", "Panel efficiency is lower at high temperatures."],
        "cost": ["The price of solar modules fell by more than {n} percent in ten years.", "Installation labour is now a larger share of the cost than the panels."],
        "storage": ["Batteries store surplus solar power for use at night.", "Home batteries usually hold between {n} and {m} kilowatt hours."],
    },
    "sleep": {
        "stages": ["Sleep cycles through light, deep and REM stages about every {n} minutes.", "Dreams are most vivid during REM sleep."],
        "memory": ["Deep sleep helps the brain consolidate new memories.", "Students who sleep after learning recall more than those who stay awake."],
        "deprivation": ["Adults who sleep less than {n} hours a night have a higher risk of heart disease.", "Lack of sleep is not harmless: it slows reaction time like alcohol does."],
    },
    "coffee": {
        "caffeine": ["A cup of brewed coffee contains about {n} milligrams of caffeine.", "Caffeine blocks adenosine receptors, so people feel less tired."],
        "growing": ["Arabica coffee grows best at altitudes above {n} metres.", "Coffee plants need a warm climate without frost."],
        "health": ["Moderate coffee drinking is associated with lower risk of type 2 diabetes.", "High doses of caffeine can increase anxiety and heart rate."],
    },
    "electric cars": {
        "range": ["Modern electric cars travel between {n} and {m} kilometres on a full charge.", "Cold weather reduces the range of an electric car."],
        "charging": ["Fast chargers can refill a battery to 80 percent in about {n} minutes.", "Most owners charge at home overnight."],
        "emissions": ["Electric cars produce no exhaust emissions while driving.", "Over its life an electric car emits less carbon than a petrol car when the grid is clean."],
    },
    "antibiotics": {
        "resistance": ["Bacteria become resistant when antibiotics are overused.", "Resistant infections cause about {n} thousand deaths a year in Europe."],
        "discovery": ["Penicillin was discovered by Alexander Fleming in 1928.", "Few new classes of antibiotics have been found since the 1980s."],
        "use": ["Antibiotics do not work against viruses such as the common cold.", "Patients should finish the full course that the doctor prescribes."],
    },
    "coral reefs": {
        "bleaching": ["Corals bleach when the water is warmer than usual for several weeks.", "A rise of {n} degrees above the summer maximum can trigger bleaching."],
        "biodiversity": ["Reefs cover less than 1 percent of the ocean floor but host about {n} percent of marine species.", "Many fish depend on reefs for food and shelter."],
        "protection": ["Marine protected areas help reefs recover from damage.", "Reducing runoff from farms improves water quality on reefs."],
    },
    "bicycles": {
        "commuting": ["Cycling to work for {n} minutes a day improves heart health.", "Cities with protected bike lanes have more cyclists."],
        "design": ["Carbon frames are lighter than steel frames but more expensive.", "Wider tyres give more grip on wet roads."],
        "safety": ["Wearing a helmet reduces the risk of head injury by about {n} percent.", "Most cycling accidents happen at junctions."],
    },
    "wind power": {
        "turbines": ["A large offshore turbine can generate {n} megawatts.", "Longer blades capture more energy from the wind."],
        "variability": ["Wind power output changes with the weather.", "Grid operators balance wind with storage and other sources."],
        "wildlife": ["Turbines kill fewer birds than buildings and cats do.", "Careful siting keeps turbines away from migration routes."],
    },
    "chocolate": {
        "cocoa": ["Cocoa beans are fermented and dried before roasting.", "Most cocoa is grown in West Africa, which supplies about {n} percent of the world total."],
        "health": ["Dark chocolate contains flavanols that may lower blood pressure.", "Milk chocolate has more sugar and less cocoa than dark chocolate."],
        "history": ["The Aztecs drank chocolate as a bitter, spiced beverage.", "Solid chocolate bars appeared in the 1840s."],
    },
    "earthquakes": {
        "magnitude": ["Each step on the magnitude scale releases about {n} times more energy.", "Magnitude measures energy, while intensity describes shaking."],
        "prediction": ["Scientists cannot predict the exact time of an earthquake.", "Early warning systems give a few seconds of notice before strong shaking."],
        "buildings": ["Base isolation lets buildings move separately from the ground.", "Older brick buildings are more likely to collapse."],
    },
    "vaccines": {
        "immunity": ["Vaccines train the immune system to recognise a pathogen.", "Herd immunity needs about {n} percent of people to be immune to measles."],
        "safety": ["Serious side effects from vaccines are rare.", "Vaccines are tested in trials with thousands of volunteers."],
        "history": ["Edward Jenner developed the smallpox vaccine in 1796.", "Smallpox was declared eradicated in 1980."],
    },
    "recycling": {
        "plastic": ["Only about {n} percent of plastic waste has ever been recycled.", "Many plastics cannot be recycled more than once or twice."],
        "metal": ["Recycling aluminium saves about 95 percent of the energy needed for new metal.", "Steel can be recycled many times without losing strength."],
        "paper": ["Paper fibres get shorter each time paper is recycled.", "Recycled paper uses less water than paper made from trees."],
    },
    "running": {
        "training": ["Beginners should increase weekly distance by no more than {n} percent.", "Easy runs build endurance with low injury risk."],
        "injuries": ["Shin splints are common in new runners.", "Strength training reduces the risk of running injuries."],
        "marathon": ["The marathon distance is 42.195 kilometres.", "Elite runners finish a marathon in just over {n} hours."],
    },
    "rainforests": {
        "deforestation": ["The Amazon lost about {n} thousand square kilometres of forest in one year.", "Cattle ranching is a major cause of deforestation."],
        "climate": ["Rainforests store large amounts of carbon in trees and soil.", "Burning forests releases carbon dioxide into the air."],
        "species": ["Tropical rainforests are home to more than half of land species.", "Many medicines come from rainforest plants."],
    },
    "smartphones": {
        "battery": ["Lithium-ion batteries lose capacity after about {n} hundred charge cycles.", "Heat shortens the life of a phone battery."],
        "screens": ["OLED screens use less power when showing dark colours.", "Higher refresh rates make scrolling look smoother."],
        "usage": ["People check their phones about {n} times a day on average.", "Notifications interrupt concentration at work."],
    },
    "tea": {
        "types": ["Green and black tea come from the same plant, Camellia sinensis.", "Black tea is fully oxidised, while green tea is not."],
        "caffeine": ["A cup of black tea has about {n} milligrams of caffeine.", "Tea contains less caffeine than coffee."],
        "brewing": ["Green tea should be brewed with water below boiling.", "Steeping tea longer makes it more bitter."],
    },
}

QUERIES = {
    "pollination": "Why are honey bees important for crops?",
    "colony": "How many bees live in a hive and what does the queen do?",
    "decline": "Why are bee colonies dying?",
    "eruption": "What causes explosive volcanic eruptions?",
    "monitoring": "How do scientists watch volcanoes for warning signs?",
    "soil": "Why is volcanic soil fertile?",
    "efficiency": "How efficient are solar panels?",
    "cost": "Has the price of solar power gone down?",
    "storage": "How is solar energy stored for the night?",
    "stages": "What are the stages of sleep?",
    "memory": "Does sleep help memory?",
    "deprivation": "What are the health risks of not sleeping enough?",
    "caffeine": "How much caffeine is in a drink?",
    "growing": "Where does coffee grow?",
    "health": "Is it healthy to eat or drink it?",
    "range": "How far can an electric car drive on one charge?",
    "charging": "How long does it take to charge an electric car?",
    "emissions": "Are electric cars better for the climate?",
    "resistance": "Why do bacteria become resistant to antibiotics?",
    "discovery": "Who discovered penicillin?",
    "use": "When should antibiotics be used?",
    "bleaching": "What causes coral bleaching?",
    "biodiversity": "Why are coral reefs important for marine life?",
    "protection": "How can coral reefs be protected?",
    "commuting": "Is cycling to work good for health?",
    "design": "Which bicycle frame material is lighter?",
    "safety": "How safe is it and what reduces risk?",
    "turbines": "How much power does a wind turbine produce?",
    "variability": "What happens when the wind does not blow?",
    "wildlife": "Do wind turbines kill birds?",
    "cocoa": "How are cocoa beans processed and where are they grown?",
    "history": "What is the history behind it?",
    "magnitude": "What does earthquake magnitude mean?",
    "prediction": "Can earthquakes be predicted?",
    "buildings": "How are buildings protected from earthquakes?",
    "immunity": "How do vaccines create immunity?",
    "plastic": "How much plastic gets recycled?",
    "metal": "Is recycling metal worth it?",
    "paper": "How many times can paper be recycled?",
    "training": "How should beginners increase running distance?",
    "injuries": "How can runners avoid injuries?",
    "marathon": "How long is a marathon?",
    "deforestation": "What is causing deforestation of the Amazon?",
    "climate": "How do rainforests affect the climate?",
    "species": "How many species live in rainforests?",
    "battery": "Why does a phone battery wear out?",
    "screens": "What are the advantages of OLED phone screens?",
    "usage": "How often do people use their phones?",
    "types": "What is the difference between green and black tea?",
    "brewing": "How should tea be brewed?",
}

FILLER = [
    "Researchers continue to study the topic.", "The details vary from region to region.",
    "Experts recommend looking at long-term data.", "This has been reported in several surveys.",
    "Public interest has grown in recent years.", "Local conditions play a large role.",
]


def fill(sentence, rng):
    n = rng.choice([2, 3, 4, 5, 8, 10, 12, 15, 20, 25, 30, 40, 50, 60, 75, 90])
    return sentence.format(n=n, m=n * 2 + rng.choice([1, 5, 10]))


def main(out):
    rng = random.Random(20261126)
    out.mkdir(parents=True, exist_ok=True)
    docs, qrels, queries = [], [], []
    for topic, facets in TOPICS.items():
        names = list(facets)
        for i in range(15):
            main_facet = names[i % len(names)]
            other = rng.choice([f for f in names if f != main_facet])
            parts = [fill(s, rng) for s in facets[main_facet]]
            parts.append(fill(rng.choice(facets[other]), rng))
            parts.append(rng.choice(FILLER))
            tail = parts[1:]
            rng.shuffle(tail)
            parts[1:] = tail
            title = f"{topic.capitalize()}: {main_facet}"
            docs.append({"_id": str(len(docs) + 1), "title": title, "text": " ".join(parts), "_facets": (topic, main_facet)})
    # Exact duplicates (a positive copied under another id) and near-duplicates, as real corpora have.
    for d in rng.sample(docs, 6):
        docs.append({"_id": str(len(docs) + 1), "title": d["title"], "text": d["text"], "_facets": d["_facets"]})
    seen = set()
    for topic, facets in TOPICS.items():
        for facet in facets:
            q = QUERIES[facet]
            if " it" in q:
                q = q.replace(" it", f" {topic}", 1)
            if q in seen:  # the same question about another topic
                q = f"{q[:-1]} ({topic})?"
            seen.add(q)
            qid = str(len(queries) + 1)
            queries.append({"_id": qid, "text": q})
            for d in docs:
                if d["_facets"] == (topic, facet):
                    qrels.append((qid, d["_id"], 1))
    # Queries with no judgement are normal in BEIR data: they yield no row.
    queries.append({"_id": str(len(queries) + 1), "text": "What is the tallest mountain on the moon?"})
    with open(out / "corpus.jsonl", "w", encoding="utf-8") as f:
        for d in docs:
            f.write(json.dumps({"_id": d["_id"], "title": d["title"], "text": d["text"]}, ensure_ascii=False) + "\n")
    with open(out / "queries.jsonl", "w", encoding="utf-8") as f:
        for q in queries:
            f.write(json.dumps(q, ensure_ascii=False) + "\n")
    with open(out / "qrels.tsv", "w") as f:
        f.write("query-id\tcorpus-id\tscore\n")
        for q, d, s in qrels:
            f.write(f"{q}\t{d}\t{s}\n")
    print(f"{len(docs)} passages, {len(queries)} queries, {len(qrels)} judgements -> {out}")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
