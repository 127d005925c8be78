#!/usr/bin/env python3
"""A second, independently built labelled corpus for `kura scan`, made with Faker.

kura's own quality corpus (`kura_bench::corpus`) was written by the author of its detectors.
This one was written separately, from Faker's providers and hand-written templates, without
looking at kura's detectors, and is meant as a held-out check. It writes

    DIR/corpus/<files>   CSV/TSV exports, JSON lines, a pretty-printed JSON export, a SQL dump,
                         application / web-server / mail logs, and prose (support tickets,
                         e-mails, letters, CRM and meeting notes) in English, German, Japanese
    DIR/labels.json      [{"file": NAME, "loc": {"Line": N}, "kind": KIND}, ...], one entry per
                         (file, line, kind) that holds that kind: the format that
                         `presidio_eval.py` (beside this file) reads

Kinds (kura's ids): email, phone, payment_card, iban, us_ssn, birth_date, postal_address,
person_name, ip_address. Locales: en_US, en_GB, de_DE, ja_JP.

Rules the labels follow:
  * every value comes from a Faker provider, in the format Faker gives it. Two layout steps
    only: a multi-line Faker address is written on one line joined with ", " (Japanese
    addresses are one line already), or, in a letter's address block, one Faker line per line
    (every line of the block is labelled postal_address); and birth dates (Faker returns a
    `date`) are written in formats usual for the locale (e.g. 04.03.1985, 03/04/1985,
    1985年3月4日);
  * a line's labels are complete: a line is labelled with a kind exactly when one of the
    placeholders that filled it is of that kind;
  * company names (Faker company()), bare city names, order/invoice numbers, SKUs, EANs,
    prices, versions, UUIDs, hex ids, card expiry dates, masked cards (last 4 digits) and dates
    of events are not personal data and carry no label, even when they contain a surname
    (company names) or look like a date of birth;
  * a date is birth_date only where the column, key or sentence says it is a date of birth;
  * person_name covers full names, surnames with an honorific (Ms. Roe, Frau Müller, 山田様),
    a first name alone used to address a person ("Hi Jane,"), and the kana reading of a
    Japanese name (フリガナ column);
  * us_ssn only from en_US ssn(); IBANs only for en_GB and de_DE people (Faker's en_US and
    ja_JP iban() give British IBANs, which would be odd for those people).

Deterministic: the same --seed, --people and Faker version give the same bytes. Faker's
date_of_birth() counts back from today, so "now" is pinned to 2026-12-01 12:00 UTC inside
Faker's date-time provider (and TZ is set to UTC).

    python3 -m pip install -r bench/scan/requirements-faker.txt
    python3 bench/scan/faker_corpus.py /tmp/fk            # --seed 7 --people 3000
"""

import os
import time

os.environ["TZ"] = "UTC"
if hasattr(time, "tzset"):
    time.tzset()

import argparse  # noqa: E402
import csv  # noqa: E402
import io  # noqa: E402
import json  # noqa: E402
import random  # noqa: E402
import shutil  # noqa: E402
import string  # noqa: E402
from datetime import date, datetime, timezone  # noqa: E402

import faker  # noqa: E402
import faker.providers.date_time as _faker_dt  # noqa: E402
from faker import Faker  # noqa: E402

FIXED_NOW = datetime(2026, 12, 1, 12, 0, 0)


class _PinnedNow(datetime):
    """datetime whose now() is FIXED_NOW, so date_of_birth() does not depend on the day."""

    @classmethod
    def now(cls, tz=None):
        if tz is None:
            return cls(2026, 12, 1, 12, 0, 0)
        return cls(2026, 12, 1, 12, 0, 0, tzinfo=timezone.utc).astimezone(tz)


_faker_dt.datetime = _PinnedNow

LOCALES = ["en_US", "en_GB", "de_DE", "ja_JP"]
KINDS = ["email", "phone", "payment_card", "iban", "us_ssn", "birth_date", "postal_address",
         "person_name", "ip_address"]

MONTHS_EN = ["January", "February", "March", "April", "May", "June", "July", "August",
             "September", "October", "November", "December"]
MONTHS_DE = ["Januar", "Februar", "März", "April", "Mai", "Juni", "Juli", "August",
             "September", "Oktober", "November", "Dezember"]
WEEKDAYS_EN = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"]
WEEKDAYS_DE = ["Montag", "Dienstag", "Mittwoch", "Donnerstag", "Freitag"]
WEEKDAYS_JA = ["月曜日", "火曜日", "水曜日", "木曜日", "金曜日"]

PRODUCTS_EN = ["desk lamp", "standing desk", "USB-C hub", "espresso machine", "office chair",
               "wireless keyboard", "noise-cancelling headphones", "4K monitor", "label printer",
               "laptop sleeve", "water filter", "air purifier", "bike lock", "yoga mat",
               "coffee grinder", "webcam", "docking station", "smart thermostat"]
PRODUCTS_DE = ["Schreibtischlampe", "Bürostuhl", "Kaffeevollautomat", "Wasserkocher",
               "Fahrradschloss", "Tastatur", "Monitorarm", "Etikettendrucker", "Luftreiniger",
               "Rucksack", "Thermoskanne", "Dockingstation", "Heizlüfter", "Akkuschrauber"]
PRODUCTS_JA = ["デスクライト", "オフィスチェア", "電気ケトル", "ワイヤレスキーボード", "加湿器",
               "コーヒーミル", "モバイルバッテリー", "ノートパソコンスタンド", "空気清浄機",
               "炊飯器", "ヘッドホン", "ウェブカメラ"]
COLORS = ["black", "white", "grey", "navy", "oak", "walnut", "red", "sage"]


def one_line(addr, sep=", "):
    return sep.join(x.strip() for x in addr.split("\n") if x.strip())


# --------------------------------------------------------------------------------------
# people


class Person:
    pass


def make_person(f, loc, rng, ident):
    p = Person()
    p.loc = loc
    p.id = ident
    p.female = rng.random() < 0.5
    if loc == "ja_JP":
        last, last_kana, last_rom = f.last_name_pair()
        first, first_kana, first_rom = (f.first_name_female_pair() if p.female
                                        else f.first_name_male_pair())
        p.first, p.last = first, last
        p.full = f"{last} {first}"          # Faker ja_JP's name() format: last, space, first
        p.kana = f"{last_kana} {first_kana}"
        p.romanized = f"{first_rom} {last_rom}"
        p.faker_name = p.full
    else:
        p.first = f.first_name_female() if p.female else f.first_name_male()
        p.last = f.last_name()
        p.full = f"{p.first} {p.last}"
        # Faker's own name(), with its occasional prefixes/suffixes, for tabular data.
        p.faker_name = f.name_female() if p.female else f.name_male()
        p.kana = p.romanized = None
    p.email = f.free_email() if rng.random() < 0.5 else f.email()
    p.phone = f.phone_number()
    p.address = f.address()
    p.addr_lines = [x.strip() for x in p.address.split("\n") if x.strip()]
    p.addr = one_line(p.address)
    if loc == "ja_JP" and rng.random() < 0.4:
        p.addr = f"〒{f.postcode()} {p.addr}"   # postcode before the address, as on envelopes
    p.dob = f.date_of_birth(minimum_age=18, maximum_age=90)
    p.card = f.credit_card_number()
    p.card_exp = f.credit_card_expire()
    p.iban = f.iban() if loc in ("en_GB", "de_DE") else None
    p.ssn = f.ssn() if loc == "en_US" else None
    r = rng.random()
    p.ip = f.ipv4_public() if r < 0.75 else (f.ipv4_private() if r < 0.9 else f.ipv6())
    return p


def honorific(p, rng, full=False):
    """A name with an honorific, as people write it in that language."""
    if p.loc == "ja_JP":
        base = p.full if full else p.last
        return base + rng.choice(["様", "様", "さん", "氏"])
    if p.loc == "de_DE":
        h = "Frau" if p.female else "Herr"
        if rng.random() < 0.15:
            h += rng.choice([" Dr.", " Prof."])
        return f"{h} {p.full if full else p.last}"
    if p.loc == "en_GB":
        h = rng.choice(["Ms", "Mrs", "Miss"]) if p.female else "Mr"
        if rng.random() < 0.1:
            h = "Dr"
    else:
        h = rng.choice(["Ms.", "Mrs."]) if p.female else "Mr."
        if rng.random() < 0.1:
            h = "Dr."
    return f"{h} {p.full if full else p.last}"


# --------------------------------------------------------------------------------------
# formats of dates, money, ids


def fmt_date(d, loc, rng, style=None):
    styles = {
        "en_US": ["us", "iso", "long_us"],
        "en_GB": ["gb", "iso", "long_gb"],
        "de_DE": ["de", "de", "iso", "long_de"],
        "ja_JP": ["ja_slash", "iso", "ja_kanji"],
    }[loc]
    s = style or rng.choice(styles)
    if s == "us":
        return d.strftime("%m/%d/%Y")
    if s == "iso":
        return d.isoformat()
    if s == "long_us":
        return f"{MONTHS_EN[d.month - 1]} {d.day}, {d.year}"
    if s == "gb":
        return d.strftime("%d/%m/%Y")
    if s == "long_gb":
        return f"{d.day} {MONTHS_EN[d.month - 1]} {d.year}"
    if s == "de":
        return d.strftime("%d.%m.%Y")
    if s == "long_de":
        return f"{d.day}. {MONTHS_DE[d.month - 1]} {d.year}"
    if s == "ja_slash":
        return d.strftime("%Y/%m/%d")
    if s == "ja_kanji":
        return f"{d.year}年{d.month}月{d.day}日"
    raise ValueError(s)


def price(loc, rng):
    v = rng.choice([rng.randint(1, 99) + rng.choice([0.99, 0.5, 0.0, 0.95]),
                    rng.randint(100, 2500) + rng.choice([0.0, 0.99, 0.49])])
    if loc == "en_US":
        return f"${v:,.2f}"
    if loc == "en_GB":
        return f"£{v:,.2f}"
    if loc == "de_DE":
        s = f"{v:,.2f}".replace(",", "_").replace(".", ",").replace("_", ".")
        return f"{s} €"
    return rng.choice([f"¥{int(v * 150):,}", f"{int(v * 150):,}円"])


class Gen:
    """Faker instances per locale, a seeded RNG, and the negative (non-personal) values."""

    def __init__(self, seed):
        self.rng = random.Random(seed)
        self.f = {}
        for i, loc in enumerate(LOCALES):
            fk = Faker(loc)
            fk.seed_instance(seed * 1000 + i)
            self.f[loc] = fk
        self.fx = Faker("en_US")
        self.fx.seed_instance(seed * 1000 + 99)
        self.t0 = datetime(2026, 1, 1)
        self.t1 = datetime(2026, 11, 30)

    # -- negatives ------------------------------------------------------------------
    def order(self):
        r = self.rng.random()
        if r < 0.4:
            return f"ORD-{self.rng.randint(2019, 2026)}-{self.rng.randint(0, 999999):06d}"
        if r < 0.7:
            return f"#{self.rng.randint(100000, 9999999)}"
        return (f"{self.rng.randint(100, 999)}-{self.rng.randint(0, 9999999):07d}-"
                f"{self.rng.randint(0, 9999999):07d}")

    def invoice(self):
        return self.rng.choice(["INV-", "RE-", "R", "INV"]) + str(self.rng.randint(10000, 99999999))

    def sku(self):
        fx = self.fx
        return self.rng.choice([
            lambda: f"SKU-{self.rng.randint(1000, 99999)}-{fx.lexify('???').upper()}",
            lambda: fx.bothify("??-####-##").upper(),
            lambda: f"{fx.lexify('???').upper()}{self.rng.randint(100, 9999)}",
        ])()

    def product(self, loc):
        if loc == "de_DE":
            return self.rng.choice(PRODUCTS_DE)
        if loc == "ja_JP":
            return self.rng.choice(PRODUCTS_JA)
        return f"{self.rng.choice(COLORS)} {self.rng.choice(PRODUCTS_EN)}"

    def version(self):
        r = self.rng.random()
        a, b, c = self.rng.randint(0, 12), self.rng.randint(0, 40), self.rng.randint(0, 200)
        if r < 0.6:
            return f"{a}.{b}.{c}"
        if r < 0.8:
            return f"v{a}.{b}.{c}"
        if r < 0.9:
            return f"{a}.{b}.{c}.{self.rng.randint(0, 9999)}"
        return f"{a}.{b}.{c}-rc.{self.rng.randint(1, 5)}"

    def event_dt(self):
        return self.fx.date_time_between_dates(self.t0, self.t1, tzinfo=timezone.utc)

    def event_date(self, loc):
        d = self.fx.date_between_dates(date(2019, 1, 1), date(2026, 11, 30))
        return fmt_date(d, loc, self.rng)

    def since_date(self, loc):
        d = self.fx.date_between_dates(date(1995, 1, 1), date(2026, 11, 30))
        return fmt_date(d, loc, self.rng)

    def ts_iso(self):
        return self.event_dt().strftime("%Y-%m-%dT%H:%M:%S.") + f"{self.rng.randint(0, 999):03d}Z"

    def ts_log(self):
        return self.event_dt().strftime("%Y-%m-%d %H:%M:%S,") + f"{self.rng.randint(0, 999):03d}"

    def time_hm(self):
        return f"{self.rng.randint(8, 18)}:{self.rng.choice(['00', '15', '30', '45'])}"

    def uuid(self):
        return self.fx.uuid4()

    def hexid(self, n=12):
        return self.fx.hexify("^" * n)

    def ticket(self):
        return str(self.rng.randint(10000, 999999))

    def last4(self):
        return f"{self.rng.randint(0, 9999):04d}"

    def ean(self):
        return self.fx.ean13()

    def tracking(self):
        return self.rng.choice([
            lambda: "1Z" + self.fx.bothify("???#####??#######").upper(),
            lambda: self.fx.numerify("JJD################"),
            lambda: self.fx.bothify("??#########DE").upper(),
        ])()


# --------------------------------------------------------------------------------------
# documents and labels


class Doc:
    def __init__(self, name):
        self.name = name
        self.lines = []

    def add(self, text, kinds=()):
        assert "\n" not in text and "\r" not in text, (self.name, text)
        self.lines.append((text, sorted(set(kinds))))

    def blank(self):
        self.add("")


class Row:
    """Cells with the kinds they hold; kinds of an empty cell do not count."""

    def __init__(self):
        self.cells, self.kinds = [], set()

    def __call__(self, value, kind=None):
        value = "" if value is None else str(value)
        self.cells.append(value)
        if kind and value:
            self.kinds.add(kind)
        return self


def csv_line(cells, delim):
    buf = io.StringIO()
    w = csv.writer(buf, delimiter=delim, lineterminator="\n",
                   quoting=csv.QUOTE_MINIMAL)
    w.writerow(cells)
    return buf.getvalue().rstrip("\n")


def maybe(rng, p, value):
    """value, or None for an empty cell with probability 1-p (real exports have gaps)."""
    return value if rng.random() < p else None


# --------------------------------------------------------------------------------------
# prose templates: {placeholder} -> (value, kind). Kinds of negatives are None.

PERSONAL = {
    "name": "person_name", "hon": "person_name", "honfull": "person_name",
    "first": "person_name", "agent": "person_name", "kana": "person_name",
    "email": "email", "agentmail": "email", "phone": "phone", "agentphone": "phone",
    "addr": "postal_address",
    "dob": "birth_date", "card": "payment_card", "iban": "iban", "ssn": "us_ssn",
    "ip": "ip_address",
}

EN_POS = [
    "Please call {name} at {phone} regarding order {order}.",
    "{name} called on {date} asking why invoice {inv} was charged twice.",
    "{hon} wrote in to say the parcel never arrived at {addr}.",
    "Customer {name} (born {dob}) requested a copy of all the data we hold.",
    "The card on file, {card}, was declined again this morning.",
    "Can you update the billing address to {addr}?",
    "I spoke with {hon} today and they confirmed the new number is {phone}.",
    "Refund of {price} approved for {name}, to be credited to card {card}.",
    "Date of birth on the ID does not match: the form says {dob}.",
    "Reach me at {email} or on {phone} after 5pm.",
    "Login from {ip} was flagged as suspicious for account {email}.",
    "Send the replacement to {name}, {addr}.",
    "{hon} mentioned that they moved to {addr} last spring.",
    "Forwarding to {agent} in accounts, see ticket {ticket}.",
    "As discussed with {name}, we will waive the late fee of {price}.",
    "Emergency contact: {name}, {phone}",
    "The user at {ip} attempted {n} password resets within an hour.",
    "Thanks {first}, I have passed this on to the warehouse team.",
    "{name} was born on {dob} and has been a customer since {since}.",
    "New mobile number for {hon}: {phone}",
    "Please stop sending newsletters to {email}, the customer has asked to be removed.",
    "According to {hon}, the charge on card {card} was not authorised.",
    "{hon} asked whether we could also use the e-mail address {email}.",
    "Verified identity with date of birth {dob} and postcode.",
    "Our driver could not find {addr}, so the parcel is back at the depot in {city}.",
    "{agent} confirmed the address change for {name} on {date}.",
    "The account belongs to {name}; the request came from IP {ip}.",
]
EN_US_POS = [
    "SSN provided on the credit application: {ssn}.",
    "{hon} gave their social security number as {ssn} over the phone.",
    "Please mask the SSN {ssn} in the attached scan before forwarding.",
]
EN_GB_POS = [
    "Please refund {price} to the account with IBAN {iban}.",
    "{hon} sent new bank details: IBAN {iban}.",
]
EN_NEG = [
    "Order {order} shipped on {date}, tracking number {tracking}.",
    "Invoice {inv} for {price} is due on {date}.",
    "SKU {sku} ({product}) is back in stock at the {city} warehouse.",
    "Upgraded the client to version {ver}, but the issue persists.",
    "Escalated to {company}, who supply the replacement parts.",
    "Call moved to {weekday} at {time}.",
    "Reference {uuid} attached to this ticket.",
    "Total: {price} including VAT ({n} items).",
    "Customer since {since}, {n} orders so far.",
    "Session {hex} expired after {n} minutes of inactivity.",
    "Our office in {city} will be closed on {date}.",
    "Status changed from Open to Pending at {time}.",
    "Contract with {company} renews on {date}.",
    "See KB article KB{n}{n} for the workaround.",
    "The payment for order {order} was made with the card ending in {last4}.",
    "Product: {product}, EAN {ean}.",
    "Card expiry shown on the receipt: {exp}.",
    "Warehouse picked {n} units of {sku} on {date}.",
    "No further action needed, closing.",
    "The courier's depot in {city} confirmed the delay.",
    "Firmware {ver} fixes the pairing problem described in {ticket}.",
]
DE_POS = [
    "{hon} hat am {date} angerufen und bittet um Rückruf unter {phone}.",
    "{name} wurde am {dob} geboren.",
    "Bitte senden Sie die Unterlagen an {name}, {addr}.",
    "Die neue Anschrift lautet: {addr}.",
    "Geb. {dob}, Kundennummer {custno}.",
    "Kontoinhaber: {name}, IBAN {iban}",
    "Die Lastschrift vom Konto {iban} wurde zurückgegeben.",
    "{hon} ist per E-Mail unter {email} erreichbar.",
    "Rückfragen bitte an {agent} (Tel. {agentphone}).",
    "Die Kreditkarte {card} wurde auf Wunsch des Kunden gesperrt.",
    "Laut Ausweis ist {hon} am {dob} geboren.",
    "Anmeldung von der IP-Adresse {ip} um {time} Uhr.",
    "Wir haben mit {name} telefoniert, eine Ratenzahlung ist gewünscht.",
    "{name} hat die E-Mail-Adresse auf {email} geändert.",
    "Geburtsdatum laut Antrag: {dob}",
    "Die Ware wurde an {addr} zugestellt, aber nicht angenommen.",
    "Neue Telefonnummer von {hon}: {phone}",
    "Zahlung per Karte {card}, Betrag {price}.",
    "{hon} bittet um Erstattung auf das Konto {iban}.",
    "Herzlichen Dank, {first}, wir kümmern uns darum.",
    "Die Bestellung wurde von {ip} aus aufgegeben, das Konto gehört {name}.",
    "{name} (geb. {dob}) ist seit {since} Kunde.",
]
DE_NEG = [
    "Rechnung {inv} über {price} ist am {date} fällig.",
    "Bestellung {order} wurde am {date} versandt, Sendungsnummer {tracking}.",
    "Artikel {sku} ({product}) ist im Lager {city} wieder verfügbar.",
    "Der Vertrag mit der {company} läuft bis {date}.",
    "Version {ver} ist seit {date} produktiv.",
    "Vorgangsnummer: {uuid}",
    "Termin verschoben auf {weekday}, {time} Uhr.",
    "Kunde seit {since}, bisher {n} Bestellungen.",
    "Die Zahlung für Bestellung {order} erfolgte mit der Karte mit den Endziffern {last4}.",
    "Lieferung an die Filiale in {city}.",
    "Gutschrift über {price} wurde am {date} gebucht.",
    "Ersatzteile werden von {company} geliefert.",
    "EAN {ean}, Menge {n}.",
    "Keine weiteren Maßnahmen erforderlich.",
]
JA_POS = [
    "{hon}より{date}にお電話があり、折り返しを希望されています。電話番号は{phone}です。",
    "{hon}の生年月日は{dob}です。",
    "{name}さんは{dob}生まれです。",
    "お届け先住所：{addr}",
    "送付先は{addr}、{hon}宛てでお願いします。",
    "{name}（{kana}）様のメールアドレスは{email}です。",
    "クレジットカード番号{card}での決済がエラーになりました。",
    "{ip}からのログインが複数回失敗しています。",
    "担当：{agent}",
    "連絡先：{phone}",
    "{hon}から住所変更の連絡がありました。新住所は{addr}です。",
    "生年月日：{dob}",
    "本人確認のため、{hon}の生年月日（{dob}）を確認しました。",
    "{name}様より、メールアドレスを{email}に変更したいとのご依頼です。",
    "{agent}が{hon}に電話で状況を説明しました。",
    "カード{card}の有効期限切れのため、再登録をお願いしました。",
    "{name}様の携帯電話番号は{phone}です。",
    "ご住所を{addr}に更新しました。",
]
JA_NEG = [
    "注文番号{order}は{date}に発送済みです。",
    "請求書{inv}の金額は{price}です。",
    "商品{sku}（{product}）の在庫が{city}の倉庫で補充されました。",
    "{company}との契約は{date}に更新されます。",
    "アプリをバージョン{ver}にアップデートしました。",
    "問い合わせ番号：{uuid}",
    "会議は{weekday}の{time}からに変更になりました。",
    "{city}の店舗は年末年始休業です。",
    "注文{order}のお支払いは下4桁{last4}のカードで行われました。",
    "JANコード{ean}、数量{n}。",
    "対応完了。",
    "配送業者の{city}営業所に確認中です。",
]


class Filler:
    """Fills a template for one person (and a staff member) and returns (text, kinds)."""

    def __init__(self, g, loc):
        self.g, self.loc, self.f = g, loc, g.f[loc]

    def fill(self, tpl, p, agent):
        values, kinds = {}, set()
        for _, field, _, _ in string.Formatter().parse(tpl):
            if field is None or field in values:
                continue
            v = self.value(field, p, agent)
            values[field] = v
            if field in PERSONAL:
                kinds.add(PERSONAL[field])
        text = tpl.format(**values)
        return text, kinds

    def value(self, field, p, agent):
        g, loc, rng, f = self.g, self.loc, self.g.rng, self.f
        if field == "name":
            return p.full
        if field == "hon":
            return honorific(p, rng, full=rng.random() < 0.3)
        if field == "honfull":
            return honorific(p, rng, full=True)
        if field == "first":
            return p.first
        if field == "agent":
            return agent.full
        if field == "kana":
            return p.kana
        if field == "email":
            return p.email
        if field == "agentmail":
            return f.company_email()
        if field == "phone":
            return p.phone
        if field == "agentphone":
            return agent.phone
        if field == "addr":
            return p.addr
        if field == "dob":
            return fmt_date(p.dob, loc, rng)
        if field == "card":
            return p.card
        if field == "iban":
            return p.iban
        if field == "ssn":
            return p.ssn
        if field == "ip":
            return p.ip
        # negatives
        if field == "order":
            return g.order()
        if field == "inv":
            return g.invoice()
        if field == "date":
            return g.event_date(loc)
        if field == "since":
            return g.since_date(loc)
        if field == "price":
            return price(loc, rng)
        if field == "sku":
            return g.sku()
        if field == "product":
            return g.product(loc)
        if field == "city":
            return f.city()
        if field == "company":
            return f.company()
        if field == "ver":
            return g.version()
        if field == "weekday":
            return rng.choice({"de_DE": WEEKDAYS_DE, "ja_JP": WEEKDAYS_JA}.get(loc, WEEKDAYS_EN))
        if field == "time":
            return g.time_hm()
        if field == "uuid":
            return g.uuid()
        if field == "hex":
            return g.hexid(rng.choice([12, 16, 32]))
        if field == "n":
            return str(rng.randint(2, 60))
        if field == "ticket":
            return "#" + g.ticket()
        if field == "last4":
            return g.last4()
        if field == "ean":
            return g.ean()
        if field == "exp":
            return f.credit_card_expire()
        if field == "tracking":
            return g.tracking()
        if field == "custno":
            return str(rng.randint(100000, 9999999))
        raise KeyError(field)


def templates(loc, p):
    if loc == "de_DE":
        pos = [t for t in DE_POS if "{iban}" not in t or p.iban]
        return pos, DE_NEG
    if loc == "ja_JP":
        return JA_POS, JA_NEG
    pos = list(EN_POS)
    if loc == "en_US":
        pos += EN_US_POS
    if loc == "en_GB":
        pos += EN_GB_POS
    return pos, EN_NEG


def body(doc, filler, p, agent, rng, n_pos, n_neg):
    pos, neg = templates(filler.loc, p)
    # without repeats inside one document
    picks = rng.sample(pos, min(n_pos, len(pos))) + rng.sample(neg, min(n_neg, len(neg)))
    rng.shuffle(picks)
    for t in picks:
        doc.add(*filler.fill(t, p, agent))


# --------------------------------------------------------------------------------------
# the files


def csv_customers_us(g, people, n):
    rng, f = g.rng, g.f["en_US"]
    d = Doc("crm_export_us.csv")
    d.add("customer_id,customer_name,email,phone,dob,street_address,city,state,zip,"
          "last_login_ip,created_at,plan")
    for p in people[:n]:
        r = Row()
        r(f"C{p.id:07d}")(p.faker_name, "person_name")(maybe(rng, .95, p.email), "email")
        r(maybe(rng, .85, p.phone), "phone")(maybe(rng, .7, p.dob.strftime("%m/%d/%Y")), "birth_date")
        street = maybe(rng, .9, f.street_address())
        r(street, "postal_address")(f.city())(f.state_abbr())(f.zipcode())
        r(maybe(rng, .8, p.ip), "ip_address")(g.event_dt().strftime("%Y-%m-%d %H:%M:%S"))
        r(rng.choice(["free", "basic", "pro", "enterprise"]))
        d.add(csv_line(r.cells, ","), r.kinds)
    return d


def tsv_customers_gb(g, people, n):
    rng = g.rng
    d = Doc("customers_gb.tsv")
    d.add("Account Ref\tName\tE-Mail\tMobile\tDate of Birth\tAddress\tIBAN\tCustomer Since\tSegment")
    for p in people[:n]:
        r = Row()
        r(f"GB-{p.id:06d}")(p.faker_name, "person_name")(maybe(rng, .9, p.email), "email")
        r(maybe(rng, .85, p.phone), "phone")(maybe(rng, .75, p.dob.strftime("%d/%m/%Y")), "birth_date")
        r(maybe(rng, .9, p.addr), "postal_address")(maybe(rng, .6, p.iban), "iban")
        r(g.since_date("en_GB"))(rng.choice(["retail", "smb", "vip", "staff"]))
        d.add("\t".join(r.cells), r.kinds)
    return d


def csv_kunden_de(g, people, n):
    rng, f = g.rng, g.f["de_DE"]
    d = Doc("kunden_export_de.csv")
    d.add("Kundennr;Vorname;Nachname;E-Mail;Telefon;Geburtsdatum;Straße;PLZ;Ort;IBAN;Firma;angelegt_am")
    for p in people[:n]:
        r = Row()
        r(str(100000 + p.id))(p.first, "person_name")(p.last, "person_name")
        r(maybe(rng, .9, p.email), "email")(maybe(rng, .85, p.phone), "phone")
        r(maybe(rng, .7, p.dob.strftime("%d.%m.%Y")), "birth_date")
        r(maybe(rng, .9, f.street_address()), "postal_address")(f.postcode())(f.city())
        r(maybe(rng, .6, p.iban), "iban")(maybe(rng, .3, f.company()))
        r(g.event_dt().strftime("%d.%m.%Y %H:%M"))
        d.add(csv_line(r.cells, ";"), r.kinds)
    return d


def csv_kokyaku_ja(g, people, n):
    rng = g.rng
    d = Doc("顧客リスト_ja.csv")
    d.add("顧客ID,氏名,フリガナ,メールアドレス,電話番号,生年月日,住所,会員ランク,登録日")
    for p in people[:n]:
        r = Row()
        r(f"K{p.id:06d}")(p.full, "person_name")(maybe(rng, .8, p.kana), "person_name")
        r(maybe(rng, .9, p.email), "email")(maybe(rng, .9, p.phone), "phone")
        r(maybe(rng, .75, p.dob.strftime("%Y/%m/%d")), "birth_date")(maybe(rng, .9, p.addr), "postal_address")
        r(rng.choice(["ゴールド", "シルバー", "ブロンズ", "一般"]))(g.event_dt().strftime("%Y/%m/%d"))
        d.add(csv_line(r.cells, ","), r.kinds)
    return d


def csv_contacts_mixed(g, by_loc, n):
    """One export with people of all four locales and short, informal headers."""
    rng = g.rng
    d = Doc("contacts_mixed.csv")
    d.add("Name,E-Mail,tel,dob,address,ip,source,notes")
    pool = [p for loc in LOCALES for p in by_loc[loc][-n // 4:]]
    rng.shuffle(pool)
    for p in pool:
        r = Row()
        r(p.faker_name, "person_name")(maybe(rng, .9, p.email), "email")(maybe(rng, .8, p.phone), "phone")
        r(maybe(rng, .6, p.dob.isoformat()), "birth_date")(maybe(rng, .8, p.addr), "postal_address")
        r(maybe(rng, .5, p.ip), "ip_address")(rng.choice(["webform", "trade fair", "import", "referral"]))
        r(rng.choice(["", "", "VIP", "call back", "prefers e-mail", "met at booth"]))
        d.add(csv_line(r.cells, ","), r.kinds)
    return d


def csv_payments(g, people, n):
    rng = g.rng
    d = Doc("payments_2026.csv")
    d.add("txn_id,cardholder,card_number,exp,amount,currency,merchant,created")
    for p in people[:n]:
        f = g.f[p.loc]
        r = Row()
        r("tx_" + g.hexid(16))(maybe(rng, .9, p.faker_name), "person_name")(p.card, "payment_card")
        r(p.card_exp)(f"{rng.randint(1, 2000)}.{rng.randint(0, 99):02d}")
        r({"en_US": "USD", "en_GB": "GBP", "de_DE": "EUR", "ja_JP": "JPY"}[p.loc])
        r(f.company())(g.ts_iso())
        d.add(csv_line(r.cells, ","), r.kinds)
    return d


def csv_hr_us(g, people, n):
    rng = g.rng
    d = Doc("hr_employees_us.csv")
    d.add("emp_no,Name,SSN,date_of_birth,tel,home_address,department,hire_date,salary")
    for p in people[:n]:
        r = Row()
        r(f"E{p.id:05d}")(p.faker_name, "person_name")(maybe(rng, .9, p.ssn), "us_ssn")
        r(maybe(rng, .9, p.dob.isoformat()), "birth_date")(maybe(rng, .8, p.phone), "phone")
        r(maybe(rng, .85, p.addr), "postal_address")
        r(rng.choice(["Engineering", "Sales", "Finance", "Support", "Operations", "Legal"]))
        r(g.fx.date_between_dates(date(2005, 1, 1), date(2026, 11, 1)).isoformat())
        r(str(rng.randint(40, 220) * 1000))
        d.add(csv_line(r.cells, ","), r.kinds)
    return d


def csv_orders(g, n):
    """No personal data at all: order lines with ids, SKUs, prices, companies, cities."""
    rng = g.rng
    d = Doc("orders_2026.csv")
    d.add("order_id,customer_id,sku,product,ean,qty,unit_price,total,supplier,ship_city,created_at,status,tracking")
    for _ in range(n):
        loc = rng.choice(LOCALES)
        f = g.f[loc]
        qty = rng.randint(1, 12)
        up = round(rng.uniform(2, 900), 2)
        r = Row()
        r(g.order())(f"C{rng.randint(0, 9999999):07d}")(g.sku())(g.product(loc))(g.ean())(str(qty))
        r(f"{up:.2f}")(f"{up * qty:.2f}")(f.company())(f.city())(g.ts_iso())
        r(rng.choice(["paid", "shipped", "delivered", "returned", "cancelled"]))(g.tracking())
        d.add(csv_line(r.cells, ","), r.kinds)
    return d


def tsv_newsletter(g, by_loc, n):
    rng = g.rng
    d = Doc("newsletter_optins.tsv")
    d.add("email\tip\tconsent_ts\tlist\tlocale\tdouble_opt_in")
    for i in range(n):
        loc = LOCALES[i % 4]
        rng.randrange(len(by_loc[loc]))  # kept so that the seeded output stays as first published
        f = g.f[loc]
        r = Row()
        r(f.free_email() if rng.random() < .5 else f.email(), "email")
        r(maybe(rng, .85, f.ipv4_public() if rng.random() < .9 else f.ipv6()), "ip_address")
        r(g.ts_iso())(rng.choice(["weekly", "offers", "product-news"]))(loc)(rng.choice(["yes", "no"]))
        d.add("\t".join(r.cells), r.kinds)
    return d


def sql_dump(g, people):
    rng = g.rng
    d = Doc("legacy_members.sql")
    d.add("-- MySQL dump 10.13  Distrib 8.0.36, for Linux (x86_64)")
    d.add("-- Host: localhost    Database: shop_legacy")
    d.add("SET NAMES utf8mb4;")
    d.add("DROP TABLE IF EXISTS `members`;")
    d.add("CREATE TABLE `members` (`id` int NOT NULL, `full_name` varchar(120), `email` varchar(190), "
          "`phone` varchar(40), `birthday` date, `address` varchar(255), `last_ip` varchar(45), "
          "`created` datetime, PRIMARY KEY (`id`));")
    d.add("INSERT INTO `members` VALUES")

    def q(s):
        return "NULL" if s is None else "'" + str(s).replace("\\", "\\\\").replace("'", "\\'") + "'"

    for i, p in enumerate(people):
        r = Row()
        cells = [str(p.id), q(p.faker_name), q(maybe(rng, .95, p.email))]
        r.kinds.add("person_name")
        if cells[2] != "NULL":
            r.kinds.add("email")
        ph = maybe(rng, .8, p.phone)
        bd = maybe(rng, .7, p.dob.isoformat())
        ad = maybe(rng, .85, p.addr)
        ip = maybe(rng, .7, p.ip)
        for v, k in ((ph, "phone"), (bd, "birth_date"), (ad, "postal_address"), (ip, "ip_address")):
            cells.append(q(v))
            if v:
                r.kinds.add(k)
        cells.append(q(g.event_dt().strftime("%Y-%m-%d %H:%M:%S")))
        end = ";" if i == len(people) - 1 else ","
        d.add("(" + ",".join(cells) + ")" + end, r.kinds)
    d.add("UNLOCK TABLES;")
    return d


def json_profiles(g, people):
    """A pretty-printed JSON export: one field per line."""
    rng = g.rng
    d = Doc("profiles_export.json")
    d.add("[")
    for i, p in enumerate(people):
        fields = [("id", g.uuid(), None), ("fullName", p.faker_name, "person_name"),
                  ("email", p.email, "email")]
        if rng.random() < .8:
            fields.append(("mobile", p.phone, "phone"))
        if rng.random() < .7:
            fields.append(("birthDate", p.dob.isoformat(), "birth_date"))
        if rng.random() < .8:
            fields.append(("homeAddress", p.addr, "postal_address"))
        if p.iban and rng.random() < .5:
            fields.append(("payoutIban", p.iban, "iban"))
        fields += [("locale", p.loc.replace("_", "-"), None), ("createdAt", g.ts_iso(), None),
                   ("marketingOptIn", rng.random() < .4, None), ("loyaltyPoints", rng.randint(0, 9000), None)]
        d.add("  {")
        for j, (k, v, kind) in enumerate(fields):
            comma = "," if j < len(fields) - 1 else ""
            d.add(f"    {json.dumps(k)}: {json.dumps(v, ensure_ascii=False)}{comma}", [kind] if kind else [])
        d.add("  }" + ("," if i < len(people) - 1 else ""))
    d.add("]")
    return d


def jsonl_events(g, people, n):
    rng = g.rng
    d = Doc("events.jsonl")
    for _ in range(n):
        p = people[rng.randrange(len(people))]
        f = g.f[p.loc]
        uid = f"u_{p.id:07d}"
        r = rng.random()
        ev, kinds = {"ts": g.ts_iso()}, set()
        if r < 0.12:
            ev.update(event="signup", user_id=uid, name=p.faker_name, email=p.email, ip=p.ip,
                      locale=p.loc)
            kinds |= {"person_name", "email", "ip_address"}
        elif r < 0.32:
            ev.update(event="login", user_id=uid, ip=p.ip, user_agent=f.user_agent(),
                      success=rng.random() < .9)
            kinds |= {"ip_address"}
        elif r < 0.38:
            ev.update(event="login_failed", username=p.email, ip=p.ip, reason="bad_password")
            kinds |= {"email", "ip_address"}
        elif r < 0.50:
            ev.update(event="order", user_id=uid, order_id=g.order(),
                      items=[{"sku": g.sku(), "qty": rng.randint(1, 4), "price": round(rng.uniform(3, 400), 2)}
                             for _ in range(rng.randint(1, 3))],
                      payment={"method": "card", "card_number": p.card, "exp": p.card_exp},
                      total=round(rng.uniform(5, 1200), 2))
            kinds |= {"payment_card"}
        elif r < 0.54:
            ev.update(event="order", user_id=uid, order_id=g.order(),
                      payment={"method": "card", "last4": g.last4(), "brand": f.credit_card_provider()},
                      total=round(rng.uniform(5, 1200), 2))
        elif r < 0.66:
            which = rng.choice(["phone", "address", "birthdate", "email", "iban"])
            if which == "iban" and not p.iban:
                which = "phone"
            val = {"phone": p.phone, "address": p.addr, "birthdate": p.dob.isoformat(),
                   "email": p.email, "iban": p.iban}[which]
            kind = {"phone": "phone", "address": "postal_address", "birthdate": "birth_date",
                    "email": "email", "iban": "iban"}[which]
            ev.update(event="profile_update", user_id=uid, changes={which: val}, source=rng.choice(["app", "web", "support"]))
            kinds.add(kind)
        elif r < 0.84:
            ev.update(event="page_view", session=g.uuid(), path=f.uri_path(), ref=rng.choice(["", "google", "newsletter"]),
                      ms=rng.randint(20, 3000))
        elif r < 0.92:
            ev.update(event="cart_update", session=g.uuid(), sku=g.sku(), qty=rng.randint(1, 5),
                      price=price(p.loc, rng))
        else:
            ev.update(event="deploy", service=rng.choice(["api", "web", "worker", "billing"]),
                      version=g.version(), commit=g.hexid(40), region=rng.choice(["eu-west-1", "us-east-1", "ap-northeast-1"]))
        d.add(json.dumps(ev, ensure_ascii=False), kinds)
    return d


def app_log(g, people, n):
    rng = g.rng
    d = Doc("app.log")
    classes = ["c.shop.auth.LoginService", "c.shop.order.OrderService", "c.shop.cache.CacheManager",
               "c.shop.mail.Mailer", "c.shop.pay.PaymentGateway", "c.shop.ops.Deploy", "c.shop.ops.HealthCheck",
               "c.shop.web.SessionStore", "c.shop.user.ProfileService", "c.shop.imp.CustomerImport",
               "c.shop.db.Pool", "c.shop.web.RequestLog", "c.shop.auth.RateLimiter"]
    for _ in range(n):
        p = people[rng.randrange(len(people))]
        f = g.f[p.loc]
        thread = f"[http-nio-8080-exec-{rng.randint(1, 40)}]"
        ts = g.ts_log()
        r = rng.random()
        if r < 0.08:
            line, k = f"{ts} INFO  {thread} {classes[0]} - login ok user={p.email} ip={p.ip}", {"email", "ip_address"}
        elif r < 0.12:
            line, k = f"{ts} WARN  {thread} {classes[12]} - too many requests from {p.ip} (limit 60/min)", {"ip_address"}
        elif r < 0.22:
            line, k = (f"{ts} INFO  {thread} {classes[1]} - order {g.order()} created total={price(p.loc, rng)} "
                       f"items={rng.randint(1, 9)}"), set()
        elif r < 0.32:
            line, k = f"{ts} DEBUG {thread} {classes[2]} - evicted {rng.randint(1, 5000)} entries from region products", set()
        elif r < 0.37:
            line, k = (f"{ts} INFO  {thread} {classes[3]} - sent template=order_confirmation to={p.email} "
                       f"msgid={g.uuid()}"), {"email"}
        elif r < 0.43:
            line, k = (f"{ts} ERROR {thread} {classes[4]} - charge failed for card ****{g.last4()}: "
                       f"insufficient_funds (order {g.order()})"), set()
        elif r < 0.46:
            line, k = f"{ts} INFO  [main] {classes[5]} - version {g.version()} build {g.hexid(12)} started", set()
        elif r < 0.56:
            line, k = (f"{ts} INFO  [scheduler-1] {classes[6]} - db=ok cache=ok queue={rng.randint(0, 400)} "
                       f"latency={rng.randint(1, 900)}ms"), set()
        elif r < 0.62:
            line, k = f"{ts} WARN  {thread} {classes[7]} - session {g.uuid()} expired", set()
        elif r < 0.66:
            line, k = f"{ts} INFO  {thread} {classes[8]} - user u_{p.id:07d} updated phone to {p.phone}", {"phone"}
        elif r < 0.68:
            line, k = (f"{ts} ERROR [import-2] {classes[9]} - row {rng.randint(2, 90000)}: date_of_birth="
                       f"{p.dob.isoformat()} outside allowed range for customer C{p.id:07d}"), {"birth_date"}
        elif r < 0.70:
            line, k = (f"{ts} WARN  [import-2] {classes[9]} - row {rng.randint(2, 90000)}: address '{p.addr}' "
                       f"could not be geocoded"), {"postal_address"}
        elif r < 0.72:
            line, k = (f"{ts} INFO  [main] {classes[10]} - connected to postgres at {f.ipv4_private()}:5432 "
                       f"pool={rng.randint(5, 50)}"), {"ip_address"}
        else:
            line, k = (f"{ts} DEBUG {thread} {classes[11]} - request_id={g.uuid()} GET /api/v2/products/{g.sku()} "
                       f"{rng.choice([200, 200, 200, 304, 404, 500])} {rng.randint(2, 900)}ms"), set()
        d.add(line, k)
    return d


def access_log(g, people, n):
    rng = g.rng
    d = Doc("access.log")
    for _ in range(n):
        p = people[rng.randrange(len(people))]
        f = g.f[p.loc]
        ip = p.ip if rng.random() < .5 else (f.ipv4_public() if rng.random() < .9 else f.ipv6())
        t = g.event_dt().strftime("%d/%b/%Y:%H:%M:%S +0000")
        path = rng.choice([f"/{f.uri_path()}", f"/api/v2/orders/{g.order().lstrip('#')}",
                           f"/static/{g.hexid(8)}.js", f"/products/{g.sku()}", "/", "/cart", "/checkout"])
        method = rng.choice(["GET"] * 8 + ["POST", "PUT"])
        status = rng.choice([200] * 10 + [301, 304, 404, 500])
        ref = rng.choice(["-", "-", "https://www.google.com/", f"https://{f.domain_name()}/"])
        d.add(f'{ip} - - [{t}] "{method} {path} HTTP/1.1" {status} {rng.randint(100, 90000)} "{ref}" '
              f'"{f.user_agent()}"', {"ip_address"})
    return d


def mail_log(g, people, n):
    rng = g.rng
    d = Doc("mail.log")
    i = 0
    while i < n:
        p = people[rng.randrange(len(people))]
        f = g.f[p.loc]
        t = g.event_dt()
        ts = f"{t.strftime('%b')} {t.day:2d} {t.strftime('%H:%M:%S')} mx1"
        qid = g.hexid(10).upper()
        pid = rng.randint(1000, 60000)
        client = f.ipv4_public()
        relay_ip = f.ipv4_public()
        sender = f.company_email()
        d.add(f"{ts} postfix/smtpd[{pid}]: connect from unknown[{client}]", {"ip_address"})
        d.add(f"{ts} postfix/smtpd[{pid}]: {qid}: client=unknown[{client}]", {"ip_address"})
        d.add(f"{ts} postfix/cleanup[{pid + 3}]: {qid}: message-id=<{g.hexid(16)}.{rng.randint(1000, 9999)}@mail.{f.domain_name()}>")
        d.add(f"{ts} postfix/qmgr[{pid - 7}]: {qid}: from=<{sender}>, size={rng.randint(900, 90000)}, nrcpt=1 (queue active)",
              {"email"})
        d.add(f"{ts} postfix/smtp[{pid + 9}]: {qid}: to=<{p.email}>, relay={f.domain_name()}[{relay_ip}]:25, "
              f"delay={rng.uniform(0.1, 9):.1f}, dsn=2.0.0, status=sent (250 2.0.0 OK)", {"email", "ip_address"})
        d.add(f"{ts} postfix/qmgr[{pid - 7}]: {qid}: removed")
        d.add(f"{ts} postfix/smtpd[{pid}]: disconnect from unknown[{client}] ehlo=1 mail=1 rcpt=1 data=1 quit=1 commands=5",
              {"ip_address"})
        i += 7
    return d


def worker_log(g, n):
    """Batch-job log with no personal data."""
    rng = g.rng
    d = Doc("worker.log")
    jobs = ["export_orders", "reindex_products", "sync_inventory", "send_digest", "rotate_keys", "cleanup_sessions"]
    for _ in range(n):
        ts = g.ts_iso()
        r = rng.random()
        if r < 0.4:
            d.add(f"[{ts}] job={g.uuid()} name={rng.choice(jobs)} status=finished rows={rng.randint(0, 900000)} "
                  f"duration={rng.uniform(0.1, 600):.2f}s")
        elif r < 0.6:
            d.add(f"[{ts}] job={g.uuid()} name={rng.choice(jobs)} status=started worker=w-{rng.randint(1, 16)} "
                  f"version={g.version()}")
        elif r < 0.75:
            d.add(f"[{ts}] inventory sku={g.sku()} ean={g.ean()} stock={rng.randint(0, 900)} "
                  f"warehouse={g.f[rng.choice(LOCALES)].city()}")
        elif r < 0.9:
            d.add(f"[{ts}] digest batch {rng.randint(1, 400)}/{rng.randint(400, 900)} queued={rng.randint(0, 5000)} "
                  f"sha={g.hexid(40)}")
        else:
            d.add(f"[{ts}] invoice {g.invoice()} total={price(rng.choice(LOCALES), rng)} supplier=\"{g.f['en_US'].company()}\"")
    return d


# -- prose -----------------------------------------------------------------------------

def tickets_en(g, people, staff, n):
    rng = g.rng
    d = Doc("support_tickets_en.txt")
    subjects = ["Refund request", "Parcel not delivered", "Wrong item received", "Cannot log in",
                "Change of address", "Double charge on my card", "Cancel my subscription",
                "Warranty claim", "Invoice question", "Delete my account"]
    for _ in range(n):
        p = people[rng.randrange(len(people))]
        fl = Filler(g, p.loc)
        agent = staff[p.loc][rng.randrange(len(staff[p.loc]))]
        d.add(f"=== Ticket #{g.ticket()} ===")
        d.add(f"Opened: {g.ts_iso()}  Priority: {rng.choice(['low', 'normal', 'high'])}  Channel: "
              f"{rng.choice(['email', 'phone', 'chat', 'web form'])}")
        d.add(f"Subject: {rng.choice(subjects)} ({g.order()})")
        d.add(f"From: {p.full} <{p.email}>", {"person_name", "email"})
        body(d, fl, p, agent, rng, rng.randint(2, 4), rng.randint(1, 3))
        d.add(f"Assigned to: {agent.full}", {"person_name"})
        d.add(f"Status: {rng.choice(['open', 'pending', 'solved', 'closed'])}")
        d.blank()
    return d


def emails_en(g, people, staff, n):
    rng = g.rng
    d = Doc("mailbox_export_en.txt")
    for _ in range(n):
        p = people[rng.randrange(len(people))]
        fl = Filler(g, p.loc)
        agent = staff[p.loc][rng.randrange(len(staff[p.loc]))]
        amail = g.f[p.loc].company_email()
        inbound = rng.random() < .5
        d.add(f"Message-ID: <{g.hexid(20)}@mail.{g.f[p.loc].domain_name()}>")
        d.add(f"Date: {g.event_dt().strftime('%a, %d %b %Y %H:%M:%S +0000')}")
        if inbound:
            d.add(f"From: {p.full} <{p.email}>", {"person_name", "email"})
            d.add(f"To: Customer Care <{amail}>", {"email"})
        else:
            d.add(f"From: {agent.full} <{amail}>", {"person_name", "email"})
            d.add(f"To: {p.email}", {"email"})
        d.add(f"Subject: Re: your order {g.order()}")
        d.blank()
        if inbound:
            d.add(rng.choice(["Hello,", "Hi there,", "Dear Sir or Madam,", "To whom it may concern,"]))
        else:
            greet = rng.choice(["Dear {hon},", "Hi {first},", "Hello {name},", "Dear {honfull},"])
            d.add(*fl.fill(greet, p, agent))
        body(d, fl, p, agent, rng, rng.randint(1, 3), rng.randint(1, 3))
        d.blank()
        d.add(rng.choice(["Kind regards,", "Best,", "Thanks,", "Many thanks,", "Regards,"]))
        if inbound:
            d.add(rng.choice([p.full, p.first]), {"person_name"})
            if rng.random() < .4:
                d.add(f"Tel: {p.phone}", {"phone"})
        else:
            d.add(agent.full, {"person_name"})
            d.add(f"{g.f[p.loc].job()}, {g.f[p.loc].company()}")
            if rng.random() < .5:
                d.add(f"Direct line: {agent.phone}", {"phone"})
        d.add("-" * 40)
    return d


def letter_block(d, p, rng):
    """Recipient block of a letter: name, then Faker's address lines, each its own line."""
    d.add(p.full if rng.random() < .6 else honorific(p, rng, full=True), {"person_name"})
    for ln in p.addr_lines:
        d.add(ln, {"postal_address"})


def letters_gb(g, people, staff, n):
    rng = g.rng
    d = Doc("letters_en_gb.txt")
    for _ in range(n):
        p = people[rng.randrange(len(people))]
        fl = Filler(g, p.loc)
        agent = staff[p.loc][rng.randrange(len(staff[p.loc]))]
        f = g.f[p.loc]
        d.add(f.company())
        d.add(f"Our ref: {g.invoice()}/{rng.randint(1, 99)}")
        d.blank()
        letter_block(d, p, rng)
        d.blank()
        d.add(g.event_date(p.loc))
        d.blank()
        d.add(*fl.fill("Dear {hon},", p, agent))
        body(d, fl, p, agent, rng, rng.randint(2, 4), rng.randint(1, 3))
        d.blank()
        d.add("Yours sincerely,")
        d.add(agent.full, {"person_name"})
        d.add(f.job())
        d.add("~" * 30)
    return d


def letters_de(g, people, staff, n):
    rng = g.rng
    d = Doc("briefe_de.txt")
    for _ in range(n):
        p = people[rng.randrange(len(people))]
        fl = Filler(g, p.loc)
        agent = staff[p.loc][rng.randrange(len(staff[p.loc]))]
        f = g.f[p.loc]
        d.add(f.company())
        d.blank()
        if rng.random() < .5:
            d.add("Frau" if p.female else "Herrn")
            d.add(p.full, {"person_name"})
            for ln in p.addr_lines:
                d.add(ln, {"postal_address"})
        else:
            letter_block(d, p, rng)
        d.blank()
        d.add(f"{f.city()}, den {g.event_date('de_DE')}")
        d.add(f"Betreff: Ihre Bestellung {g.order()}")
        d.blank()
        d.add(f"Sehr geehrte{'' if p.female else 'r'} {honorific(p, rng)},", {"person_name"})
        body(d, fl, p, agent, rng, rng.randint(2, 4), rng.randint(1, 3))
        d.blank()
        d.add("Mit freundlichen Grüßen")
        d.add(agent.full, {"person_name"})
        d.add(f.job())
        d.add("=" * 30)
    return d


def crm_notes_de(g, people, staff, n):
    rng = g.rng
    d = Doc("crm_notizen_de.txt")
    for _ in range(n):
        p = people[rng.randrange(len(people))]
        fl = Filler(g, p.loc)
        agent = staff[p.loc][rng.randrange(len(staff[p.loc]))]
        d.add(f"## Kunde {rng.randint(100000, 9999999)} – Notiz vom {g.event_date('de_DE')}")
        d.add(f"Bearbeiter: {agent.full}", {"person_name"})
        body(d, fl, p, agent, rng, rng.randint(2, 5), rng.randint(1, 3))
        d.blank()
    return d


def notes_ja(g, people, staff, n):
    rng = g.rng
    d = Doc("対応履歴_ja.txt")
    for _ in range(n):
        p = people[rng.randrange(len(people))]
        fl = Filler(g, p.loc)
        agent = staff[p.loc][rng.randrange(len(staff[p.loc]))]
        d.add(f"【対応履歴】受付番号{g.ticket()}　{g.event_date('ja_JP')}")
        d.add(f"件名：{rng.choice(['返品のご相談', '配送遅延について', 'ログインできない', '住所変更', '請求内容の確認', '退会手続き'])}")
        body(d, fl, p, agent, rng, rng.randint(2, 5), rng.randint(1, 3))
        d.add(f"記入者：{agent.full}", {"person_name"})
        d.blank()
    return d


def mails_ja(g, people, staff, n):
    rng = g.rng
    d = Doc("問い合わせメール_ja.txt")
    for _ in range(n):
        p = people[rng.randrange(len(people))]
        fl = Filler(g, p.loc)
        agent = staff[p.loc][rng.randrange(len(staff[p.loc]))]
        f = g.f[p.loc]
        d.add(f"差出人: {p.email}", {"email"})
        d.add(f"件名: ご注文{g.order()}について")
        d.blank()
        d.add(f"{f.company()}", [])
        d.add(f"{agent.full}様", {"person_name"})
        d.blank()
        d.add("いつもお世話になっております。")
        d.add(f"{p.full}です。", {"person_name"})
        body(d, fl, p, agent, rng, rng.randint(1, 3), rng.randint(1, 2))
        d.add("よろしくお願いいたします。")
        d.blank()
        d.add(p.full, {"person_name"})
        if rng.random() < .5:
            d.add(f"TEL：{p.phone}", {"phone"})
        if rng.random() < .3:
            d.add(f"住所：{p.addr}", {"postal_address"})
        d.add("―" * 20)
    return d


def meeting_notes_en(g, people, staff, n):
    rng = g.rng
    d = Doc("meeting_notes_en.txt")
    for _ in range(n):
        loc = rng.choice(["en_US", "en_GB"])
        f = g.f[loc]
        team = rng.sample(staff[loc], rng.randint(2, 4))
        p = people[rng.randrange(len(people))]
        while p.loc != loc:
            p = people[rng.randrange(len(people))]
        fl = Filler(g, loc)
        d.add(f"# Weekly ops sync, {g.event_date(loc)}")
        d.add("Attendees: " + ", ".join(a.full for a in team), {"person_name"})
        d.add(f"1. Q{rng.randint(1, 4)} roadmap: migrate checkout to version {g.version()}.")
        d.add(f"2. Supplier update: {f.company()} will deliver {rng.randint(50, 900)} units of {g.sku()} by {g.event_date(loc)}.")
        d.add(f"3. Open escalations: {rng.randint(0, 12)} (target < 5).")
        d.add(*fl.fill(rng.choice([
            "4. Escalation: {name} ({email}) is still waiting for the refund for {order}.",
            "4. Escalation: {hon} called three times about {order}; call back on {phone}.",
            "4. Escalation: parcel for {name} returned from {addr}.",
            "4. Escalation: chargeback on card {card}, customer {name}.",
        ]), p, team[0]))
        d.add(f"Action: {team[-1].full} to follow up with {f.company()} by {g.event_date(loc)}.", {"person_name"})
        d.add(f"Action: {team[0].first} to update the runbook (ticket {g.ticket()}).", {"person_name"})
        d.add(f"Next meeting: {rng.choice(WEEKDAYS_EN)} {g.time_hm()}, room {f.bothify('?-##').upper()}.")
        d.blank()
    return d


# --------------------------------------------------------------------------------------


def build(out, seed, people_n):
    g = Gen(seed)
    rng = g.rng
    per = max(8, people_n // 4)
    by_loc, staff = {}, {}
    ident = 1
    for loc in LOCALES:
        f = g.f[loc]
        by_loc[loc] = []
        for _ in range(per):
            by_loc[loc].append(make_person(f, loc, rng, ident))
            ident += 1
        staff[loc] = [make_person(f, loc, rng, 9000000 + k) for k in range(max(4, per // 50))]
    everyone = [p for loc in LOCALES for p in by_loc[loc]]
    rng.shuffle(everyone)
    en = by_loc["en_US"] + by_loc["en_GB"]
    s = people_n / 3000.0

    docs = [
        csv_customers_us(g, by_loc["en_US"], per),
        tsv_customers_gb(g, by_loc["en_GB"], per),
        csv_kunden_de(g, by_loc["de_DE"], per),
        csv_kokyaku_ja(g, by_loc["ja_JP"], per),
        csv_contacts_mixed(g, by_loc, per),
        csv_payments(g, everyone, len(everyone)),
        csv_hr_us(g, by_loc["en_US"], per // 2),
        csv_orders(g, int(3000 * s)),
        tsv_newsletter(g, by_loc, int(2500 * s)),
        sql_dump(g, everyone[: per]),
        json_profiles(g, everyone[per: per * 2]),
        jsonl_events(g, everyone, int(6000 * s)),
        app_log(g, everyone, int(8000 * s)),
        access_log(g, everyone, int(3500 * s)),
        mail_log(g, everyone, int(3500 * s)),
        worker_log(g, int(2500 * s)),
        tickets_en(g, en, staff, int(800 * s)),
        emails_en(g, en, staff, int(700 * s)),
        letters_gb(g, by_loc["en_GB"], staff, int(350 * s)),
        letters_de(g, by_loc["de_DE"], staff, int(550 * s)),
        crm_notes_de(g, by_loc["de_DE"], staff, int(800 * s)),
        notes_ja(g, by_loc["ja_JP"], staff, int(900 * s)),
        mails_ja(g, by_loc["ja_JP"], staff, int(600 * s)),
        meeting_notes_en(g, en, staff, int(350 * s)),
    ]

    corpus = os.path.join(out, "corpus")
    if os.path.isdir(corpus):
        shutil.rmtree(corpus)
    os.makedirs(corpus)
    labels, total = [], 0
    for d in docs:
        text = "\n".join(t for t, _ in d.lines) + "\n"
        data = text.encode("utf-8")
        total += len(data)
        with open(os.path.join(corpus, d.name), "wb") as fh:
            fh.write(data)
        for i, (_, kinds) in enumerate(d.lines, 1):
            for k in kinds:
                assert k in KINDS, k
                labels.append({"file": d.name, "loc": {"Line": i}, "kind": k})
    with open(os.path.join(out, "labels.json"), "w", encoding="utf-8") as fh:
        json.dump(labels, fh, ensure_ascii=False, indent=0)
        fh.write("\n")
    return docs, labels, total


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("dir", help="output folder: DIR/corpus and DIR/labels.json")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--people", type=int, default=3000,
                    help="people in all (a quarter per locale); the other files scale with it")
    args = ap.parse_args()
    docs, labels, total = build(args.dir, args.seed, args.people)
    counts = {}
    for l in labels:
        counts[l["kind"]] = counts.get(l["kind"], 0) + 1
    summary = {
        "faker": faker.VERSION, "seed": args.seed, "people": args.people, "files": len(docs),
        "lines": sum(len(d.lines) for d in docs), "bytes": total, "labels": len(labels),
        "labels_per_kind": dict(sorted(counts.items())),
        "lines_without_label": sum(1 for d in docs for t, k in d.lines if not k and t.strip()),
    }
    json.dump(summary, __import__("sys").stderr, indent=2, ensure_ascii=False)
    print(file=__import__("sys").stderr)


if __name__ == "__main__":
    main()
