"""Where a complaint is about: district, street/town, community/compound, road, landmark.

Two sources, used together:

* a **gazetteer** (by default China's administrative divisions, :func:`admin_gazetteer`; a
  city's own file, schema in ``data/README.md``, e.g. learned by :func:`~nlp.places.learn.learn_gazetteer`): the city's
  districts, their streets and towns, the communities and residential compounds under each
  street, roads and landmarks. A gazetteer hit is exact and carries its parents, so a complaint
  that only names a compound still gets its street and district.
* **patterns** for names the gazetteer does not know (every real log mentions compounds that no
  list has, and the anonymised evaluation data has no gazetteer at all): anonymised districts
  (``A3区``, ``K8县``, ``A9市``), and names ending in a place suffix (街道/镇/乡, 小区/社区/村/苑/
  花园/家园/大厦..., 路/街/巷/大道, 医院/学校/公园/市场...). A suffix is easy to find; where the
  name *starts* is the hard part, because Chinese has no spaces and jieba splits unknown names
  into pieces. We walk back from the suffix over jieba's dictionary words and stop at
  punctuation, at function words (在, 位于, 的, 我们 ...), at a previous place name, or - once
  the name has two characters - at a verb or pronoun. Candidates whose stem is generic (我们小区,
  这条路, 安置小区) or that form a common word with the suffix (道路, 政府, 家庭, 农村) are dropped.

The result (:class:`~nlp.places.extract.LocationInfo`) has the most specific name found at each level - a name in
the title beats one in the body, then the most frequent, then the first - and two keys:

* ``key``: ``district|street|place`` with empty levels left out, e.g. ``江北区|望江街道|滨江花园``
  or ``A5区|魅力之城`` - for display and for grouping by place;
* ``anchor``: the finest place name, normalised (``魅力之城小区`` -> ``魅力之城``), which is what
  the incident grouping compares. :func:`~nlp.places.extract.same_place` treats ``万科魅力之城`` and ``魅力之城`` as
  the same place (one ends with the other) as long as the districts do not contradict.
Modules:

- :mod:`nlp.places.words` - the word lists (``data/place_words.json``), loaded once;
- :mod:`nlp.places.gazetteer` - the gazetteer model and loading it (a file, the national table);
- :mod:`nlp.places.normalize` - canonical place and district names for comparing;
- :mod:`nlp.places.extract` - finding the places of one complaint (:class:`~nlp.places.extract.LocationExtractor`);
- :mod:`nlp.places.learn` - a city's gazetteer learned from the texts of its complaint log.
"""
