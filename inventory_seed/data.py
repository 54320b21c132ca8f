"""Built-in reference tables for the seed generator: which airports, which airlines.

Airport details (name, city, coordinates, IANA time zone) come from the
``airportsdata`` package; here is only the choice of airports, ranked roughly by
passenger traffic so that smaller scales keep the busiest ones. Airline codes and
names are real; hubs are each airline's main bases.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Carrier(Enum):
    FULL_SERVICE = "full_service"
    # Full service with a FIRST cabin on long-haul widebodies.
    PREMIUM = "premium"
    LOW_COST = "low_cost"


@dataclass(frozen=True)
class AirlineSpec:
    code: str
    name: str
    hubs: tuple[str, ...]
    carrier: Carrier = Carrier.FULL_SERVICE


# Ranked: the first N of this list are the airports of a scale with N airports.
# Codes missing from the installed airportsdata (or without a usable time zone)
# are skipped, so a data update can only shorten the list, never break the seed.
RANKED_AIRPORTS: tuple[str, ...] = (
    "ATL", "DXB", "DFW", "LHR", "HND", "DEN", "IST", "LAX", "ORD", "DEL", "CDG", "JFK", "LAS",
    "AMS", "MIA", "MAD", "CAN", "PVG", "SFO", "FRA", "SEA", "CLT", "ICN", "SIN", "MCO", "BOM",
    "PEK", "EWR", "CTU", "SZX", "PHX", "BKK", "IAH", "CGK", "KUL", "BCN", "MEX", "DOH", "FCO",
    "MUC", "YYZ", "SYD", "NRT", "MNL", "HKG", "JED", "BOS", "MSP", "FLL", "GRU", "DTW", "SGN",
    "TPE", "RUH", "PHL", "HAN", "BLR", "SHA", "LGW", "BOG", "ORY", "KMG", "XIY", "CKG", "HGH",
    "AYT", "SVO", "SAW", "LIS", "MEL", "ZRH", "VIE", "BWI", "LGA", "DUB", "CPH", "OSL", "ARN",
    "PMI", "MAN", "DCA", "SLC", "IAD", "SAN", "TPA", "BNA", "AUS", "MDW", "HNL", "YVR", "YUL",
    "PDX", "STL", "HOU", "DAL", "SJC", "OAK", "SMF", "SNA", "RDU", "MSY", "MCI", "CLE", "PIT",
    "IND", "CMH", "CVG", "SAT", "JAX", "RSW", "BDL", "ABQ", "OMA", "OKC", "MKE", "BUF", "ANC",
    "TUS", "ELP", "BOI", "BHX", "EDI", "GLA", "STN", "LTN", "BRS", "NCL", "HAM", "BER", "DUS",
    "STR", "CGN", "HAJ", "NUE", "LEJ", "BRU", "CRL", "EIN", "RTM", "GVA", "BSL", "LYS", "NCE",
    "MRS", "TLS", "BOD", "NTE", "AGP", "ALC", "VLC", "SVQ", "BIO", "IBZ", "TFS", "LPA", "ACE",
    "OPO", "FAO", "MXP", "LIN", "BGY", "VCE", "NAP", "CTA", "PMO", "BLQ", "FLR", "PSA", "TRN",
    "ATH", "SKG", "HER", "RHO", "LCA", "TLV", "AMM", "BEY", "WAW", "KRK", "GDN", "WRO", "KTW",
    "PRG", "BUD", "OTP", "CLJ", "SOF", "BEG", "ZAG", "LJU", "SKP", "TIA", "RIX", "VNO", "TLL",
    "HEL", "TKU", "KEF", "BGO", "TRD", "SVG", "GOT", "BLL", "AAL", "CAI", "HRG", "SSH", "CMN",
    "RAK", "TUN", "ALG", "ADD", "NBO", "JNB", "CPT", "DUR", "LOS", "ABV", "ACC", "DKR", "KGL",
    "DAR", "JRO", "EBB", "LAD", "LUN", "HRE", "MRU", "SEZ", "TNR", "MPM", "WDH", "GBE", "ABJ",
    "KRT", "AUH", "SHJ", "DMM", "KWI", "BAH", "MCT", "SLL", "MED", "AHB", "IKA", "MHD", "THR",
    "KBL", "ISB", "KHI", "LHE", "PEW", "CMB", "MLE", "DAC", "KTM", "MAA", "HYD", "CCU", "COK",
    "AMD", "GOI", "PNQ", "TRV", "JAI", "LKO", "ATQ", "IXC", "GAU", "PAT", "BBI", "VNS", "NAG",
    "SXR", "CNX", "HKT", "DMK", "USM", "KBV", "RGN", "VTE", "DAD", "CXR", "PQC", "HPH", "KNO",
    "DPS", "SUB", "UPG", "BPN", "JOG", "PLM", "BKI", "KCH", "PEN", "LGK", "JHB", "CEB", "DVO",
    "ILO", "CRK", "BWN", "KIX", "ITM", "NGO", "FUK", "CTS", "OKA", "SDJ", "HIJ", "KOJ", "GMP",
    "PUS", "CJU", "TAE", "TSN", "CSX", "WUH", "NKG", "XMN", "TAO", "DLC", "SHE", "HRB", "CGO",
    "TYN", "NNG", "KWE", "URC", "FOC", "HAK", "SYX", "LHW", "HET", "TNA", "INC", "WNZ", "NGB",
    "SJW", "KHN", "CGQ", "ZUH", "MFM", "TNN", "KHH", "RMQ", "ULN", "ALA", "NQZ", "TAS", "GYD",
    "TBS", "EVN", "DYU", "ASB", "BNE", "PER", "ADL", "CNS", "OOL", "CBR", "HBA", "DRW", "AKL",
    "CHC", "WLG", "ZQN", "NAN", "PPT", "NOU", "POM", "GUM", "YYC", "YEG", "YOW", "YWG", "YHZ",
    "YQB", "YXE", "YQR", "YLW", "YYJ", "CUN", "GDL", "MTY", "TIJ", "SJD", "PVR", "MID", "BJX",
    "PTY", "SJO", "LIR", "SAL", "GUA", "TGU", "MGA", "SAP", "BZE", "HAV", "SDQ", "PUJ", "SJU",
    "MBJ", "KIN", "NAS", "AUA", "CUR", "BGI", "POS", "SXM", "GIG", "BSB", "CNF", "VCP", "SSA",
    "REC", "FOR", "POA", "CWB", "BEL", "MAO", "FLN", "NAT", "CGH", "SDU", "EZE", "AEP", "COR",
    "MDZ", "SCL", "LIM", "CUZ", "UIO", "GYE", "MDE", "CLO", "CTG", "BAQ", "CCS", "MVD", "ASU",
    "VVI", "LPB", "PBI", "RNO", "CHS", "SAV", "MYR", "ORF", "RIC", "GSP", "BHM", "MEM", "LIT",
    "SDF", "TUL", "ICT", "DSM", "GRR", "DAY", "PVD", "PWM", "BTV", "ALB", "SYR", "ROC", "BZN",
    "JAC", "EGE", "ASE", "FAT", "BUR", "ONT", "LGB", "PSP", "SBA", "KOA", "OGG", "LIH",
)

F, P, L = Carrier.FULL_SERVICE, Carrier.PREMIUM, Carrier.LOW_COST

# Ranked too: a scale with N airlines takes the first N that have a hub among its airports.
AIRLINES: tuple[AirlineSpec, ...] = (
    AirlineSpec("AA", "American Airlines", ("DFW", "CLT", "ORD", "MIA", "PHX", "PHL"), P),
    AirlineSpec("DL", "Delta Air Lines", ("ATL", "MSP", "DTW", "SLC", "JFK", "LAX", "SEA")),
    AirlineSpec("UA", "United Airlines", ("ORD", "DEN", "IAH", "EWR", "SFO", "IAD", "LAX")),
    AirlineSpec("EK", "Emirates", ("DXB",), P),
    AirlineSpec("BA", "British Airways", ("LHR", "LGW"), P),
    AirlineSpec("TK", "Turkish Airlines", ("IST",)),
    AirlineSpec("LH", "Lufthansa", ("FRA", "MUC"), P),
    AirlineSpec("AF", "Air France", ("CDG", "ORY"), P),
    AirlineSpec("NH", "All Nippon Airways", ("HND", "NRT"), P),
    AirlineSpec("WN", "Southwest Airlines", ("LAS", "DEN", "MDW", "BWI", "PHX", "DAL", "HOU"), L),
    AirlineSpec("QR", "Qatar Airways", ("DOH",), P),
    AirlineSpec("SQ", "Singapore Airlines", ("SIN",), P),
    AirlineSpec("KL", "KLM Royal Dutch Airlines", ("AMS",)),
    AirlineSpec("AI", "Air India", ("DEL", "BOM"), P),
    AirlineSpec("CZ", "China Southern Airlines", ("CAN", "PEK", "SZX")),
    AirlineSpec("MU", "China Eastern Airlines", ("PVG", "SHA", "KMG")),
    AirlineSpec("IB", "Iberia", ("MAD",)),
    AirlineSpec("B6", "JetBlue Airways", ("JFK", "BOS", "FLL", "MCO"), L),
    AirlineSpec("JL", "Japan Airlines", ("HND", "NRT"), P),
    AirlineSpec("KE", "Korean Air", ("ICN",), P),
    AirlineSpec("CX", "Cathay Pacific", ("HKG",), P),
    AirlineSpec("CA", "Air China", ("PEK", "CTU")),
    AirlineSpec("6E", "IndiGo", ("DEL", "BOM", "BLR"), L),
    AirlineSpec("AC", "Air Canada", ("YYZ", "YUL", "YVR")),
    AirlineSpec("EY", "Etihad Airways", ("AUH",), P),
    AirlineSpec("QF", "Qantas", ("SYD", "MEL"), P),
    AirlineSpec("FR", "Ryanair", ("STN", "DUB", "BGY", "BCN", "MAD", "CRL"), L),
    AirlineSpec("U2", "easyJet", ("LGW", "LTN", "GVA", "MXP", "BER"), L),
    AirlineSpec("AM", "Aeromexico", ("MEX",)),
    AirlineSpec("LA", "LATAM Airlines", ("SCL", "GRU", "LIM")),
    AirlineSpec("AV", "Avianca", ("BOG",)),
    AirlineSpec("CM", "Copa Airlines", ("PTY",)),
    AirlineSpec("AS", "Alaska Airlines", ("SEA", "PDX", "ANC", "SFO")),
    AirlineSpec("TG", "Thai Airways", ("BKK",), P),
    AirlineSpec("VN", "Vietnam Airlines", ("SGN", "HAN")),
    AirlineSpec("GA", "Garuda Indonesia", ("CGK", "DPS")),
    AirlineSpec("MH", "Malaysia Airlines", ("KUL",)),
    AirlineSpec("PR", "Philippine Airlines", ("MNL", "CEB")),
    AirlineSpec("BR", "EVA Air", ("TPE",)),
    AirlineSpec("CI", "China Airlines", ("TPE",)),
    AirlineSpec("SV", "Saudia", ("JED", "RUH"), P),
    AirlineSpec("LX", "Swiss International Air Lines", ("ZRH", "GVA"), P),
    AirlineSpec("OS", "Austrian Airlines", ("VIE",)),
    AirlineSpec("SK", "Scandinavian Airlines", ("CPH", "ARN", "OSL")),
    AirlineSpec("AY", "Finnair", ("HEL",)),
    AirlineSpec("TP", "TAP Air Portugal", ("LIS", "OPO")),
    AirlineSpec("EI", "Aer Lingus", ("DUB",)),
    AirlineSpec("AZ", "ITA Airways", ("FCO", "LIN")),
    AirlineSpec("LO", "LOT Polish Airlines", ("WAW",)),
    AirlineSpec("SN", "Brussels Airlines", ("BRU",)),
    AirlineSpec("VS", "Virgin Atlantic", ("LHR", "MAN")),
    AirlineSpec("VY", "Vueling", ("BCN", "FCO"), L),
    AirlineSpec("W6", "Wizz Air", ("BUD", "OTP", "WAW", "LTN"), L),
    AirlineSpec("PC", "Pegasus Airlines", ("SAW", "AYT"), L),
    AirlineSpec("DY", "Norwegian Air Shuttle", ("OSL", "ARN", "CPH"), L),
    AirlineSpec("MS", "EgyptAir", ("CAI",)),
    AirlineSpec("ET", "Ethiopian Airlines", ("ADD",)),
    AirlineSpec("KQ", "Kenya Airways", ("NBO",)),
    AirlineSpec("SA", "South African Airways", ("JNB", "CPT")),
    AirlineSpec("AT", "Royal Air Maroc", ("CMN",)),
    AirlineSpec("WS", "WestJet", ("YYC", "YYZ", "YVR")),
    AirlineSpec("G3", "GOL Linhas Aereas", ("GRU", "GIG", "BSB", "CGH"), L),
    AirlineSpec("AD", "Azul Brazilian Airlines", ("VCP", "CNF", "REC")),
    AirlineSpec("AR", "Aerolineas Argentinas", ("AEP", "EZE", "COR")),
    AirlineSpec("HU", "Hainan Airlines", ("HAK", "PEK")),
    AirlineSpec("3U", "Sichuan Airlines", ("CTU", "CKG")),
    AirlineSpec("OZ", "Asiana Airlines", ("ICN", "GMP")),
    AirlineSpec("AK", "AirAsia", ("KUL", "BKI", "DMK"), L),
    AirlineSpec("5J", "Cebu Pacific", ("MNL", "CEB"), L),
    AirlineSpec("VA", "Virgin Australia", ("BNE", "SYD", "MEL")),
    AirlineSpec("NZ", "Air New Zealand", ("AKL", "CHC")),
    AirlineSpec("HA", "Hawaiian Airlines", ("HNL", "OGG")),
    AirlineSpec("F9", "Frontier Airlines", ("DEN", "MCO", "LAS"), L),
    AirlineSpec("LY", "El Al", ("TLV",)),
    AirlineSpec("RJ", "Royal Jordanian", ("AMM",)),
    AirlineSpec("WY", "Oman Air", ("MCT",)),
    AirlineSpec("GF", "Gulf Air", ("BAH",)),
    AirlineSpec("KU", "Kuwait Airways", ("KWI",)),
    AirlineSpec("UL", "SriLankan Airlines", ("CMB",)),
    AirlineSpec("FJ", "Fiji Airways", ("NAN",)),
    AirlineSpec("UX", "Air Europa", ("MAD", "PMI")),
    AirlineSpec("A3", "Aegean Airlines", ("ATH", "SKG")),
    AirlineSpec("FI", "Icelandair", ("KEF",)),
)
