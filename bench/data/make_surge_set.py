"""Build the labelled surge set: `python -m bench.data.make_surge_set` writes
surge_mentions.jsonl beside this file, the same every time (a fixed seed).

A launch weekend after seed 001: a telco's official account (@olleh_kt in Korean, @acme
in English) drowns in mentions about delivery delays, sign-up and USIM fees, the order of
pre-orders, activation that fails, stock in shops, cancellations and refunds, thanks, and
unrelated chatter. Each topic is written many ways, as customers write: with and without
spaces and particles, slang and typos, emoji, numbers, handles and links, the other
language mixed in. The label is the topic; the set grades grouping (bench/surge.py and
tests/bot/surge/test_grouping.py).
"""

from __future__ import annotations

import json
import random
from pathlib import Path

OUT = Path(__file__).with_name("surge_mentions.jsonl")

KO_HANDLE = "@olleh_kt"
EN_HANDLE = "@acme"

SLOTS = {
    "phone": ["아이폰", "아이폰 3GS", "아이폰3gs", "아이퐁", "iPhone", "폰"],
    "phone_en": ["iPhone", "iPhone 3GS", "phone", "new phone", "handset"],
    "days": ["2", "3", "사흘", "이틀", "일주일", "닷새"],
    "days_en": ["two", "three", "5", "four", "several"],
    "won": ["3만원", "6천원", "8,800원", "만원", "33,000원"],
    "usd": ["$30", "$45", "$9.99", "$20", "$36"],
    "city": ["부산", "대구", "강남", "분당", "광주", "제주"],
    "city_en": ["Boston", "Denver", "Austin", "Chicago", "Leeds", "Dublin"],
    "sad": ["ㅠㅠ", "ㅜㅜ", "...", "ㅡㅡ", "!!", "?!", "", "", "😭", "😡"],
    "sad_en": ["", "", "!!", "...", " :(", " 😡", " smh", "?!"],
}

KO: dict[str, list[str]] = {
    "delivery": [
        "{phone} 배송 언제 되나요? {days}일째 기다리는 중{sad}",
        "예약했는데 배송이 아직도 안 왔어요{sad}",
        "배송 지연 공지라도 해주세요 도대체 언제 오는 건가요",
        "택배 언제 와요? 금요일에 온다더니 아직도 소식이 없네{sad}",
        "{phone} 배송조회 하면 계속 준비중이라고만 나와요",
        "약속한 배송일 지났는데 연락 한 통 없네요{sad}",
        "배송 왜 이렇게 늦어요 주말 내내 기다렸는데",
        "{city}인데 배송 아직이에요. 언제쯤 받을 수 있나요",
        "배송 순서는 어떻게 정해지는 건가요? 1차 예약자인데 아직 못 받았어요",
        "배송날짜 알려주세요 ㅠ 출근도 못하고 기다리는 중",
        "배송된다던 날 다 지났는데 택배기사님 연락도 없어요",
        "예판으로 샀는데 배송 언제 시작해요?",
        "언제 도착하나요 {phone}? 배송 현황 좀 알려주세요{sad}",
        "배송지연이면 지연이라고 말이라도 해줘요",
        "아직 발송도 안 됐다네요 배송 대체 언제{sad}",
    ],
    "fees": [
        "유심비 따로 내야 한다는 게 사실인가요?",
        "가입비 면제라더니 청구서에 가입비 {won} 찍혀 있네요{sad}",
        "유심 비용 {won} 받는다는 얘기 진짜예요?",
        "가입비랑 유심비 둘 다 내야 하나요 아니면 하나만?",
        "유심비 면제 해준다고 들었는데 대리점에서는 내라고 하네요",
        "가입비 낸 사람은 환급되나요?",
        "요금제 말고 유심값 따로 받는 거 너무한 거 아닌가요",
        "유심칩 값 {won}이나 받는다고요? 공식 답변 부탁드려요",
        "가입비 있는지 없는지 대리점마다 말이 달라요{sad}",
        "유심 구매비 청구된 거 맞아요? 설명 좀",
        "가입비 유심비 관련 공지 언제 올라와요",
        "번호이동 가입비 얼마에요?",
    ],
    "signup_order": [
        "선가입 후배송이랑 후가입 중에 뭐가 먼저 받아요?",
        "후가입하면 예약 순서 밀린다는 말 사실이에요?",
        "선가입 안 하면 배송 못 받는다는 소문 진짜인가요",
        "예약 순번은 가입 순서인가요 예약 순서인가요",
        "선가입 하라고 전화 왔는데 꼭 해야 해요?",
        "후가입으로 해도 예약 유지되나요? 확인 부탁드립니다",
        "선가입이 유리하다는 얘기가 돌던데 공식 입장이 뭐예요",
        "선가입 후가입 논란 정리 좀 해주세요{sad}",
        "예약자인데 선가입 안하면 순서 뒤로 간다네요 사실?",
        "가입 먼저 해야 순서 보장된다는 게 맞나요",
    ],
    "activation": [
        "{phone} 받았는데 개통이 안 돼요{sad}",
        "개통 신청한 지 {days}시간째인데 아직도 개통 대기래요",
        "유심 꽂았는데 서비스 안됨 떠요 개통 처리 언제 돼요",
        "개통 됐다고 문자 왔는데 전화가 안 걸려요{sad}",
        "3G 안 터져요 개통 문제인가요?",
        "번호이동 개통 지연 너무 심해요",
        "개통 안돼서 폰이 그냥 mp3예요{sad}",
        "전산 오류로 개통 지연이라는데 언제 풀려요",
        "개통 완료 문자 받았는데 데이터가 안 잡혀요",
        "아직 개통 안 됨. 전산 문제 언제 해결되나요",
    ],
    "stock": [
        "{city} 매장에 재고 있나요?",
        "현장 구매 가능한가요? 매장 재고 확인 부탁드려요",
        "{phone} 32기가 재고 언제 들어와요",
        "대리점 갔더니 물량이 없대요{sad}",
        "매장마다 재고가 없다는데 2차 물량 언제 풀려요",
        "오프라인 매장 재고 조회되는 곳 있나요",
        "{city} 대리점 재고 다 떨어졌대요. 추가 입고 언제?",
        "화이트 재고 있는 매장 좀 알려주세요",
        "재고 없어서 헛걸음 했어요{sad}",
    ],
    "cancel": [
        "예약 취소하고 싶은데 어떻게 하나요",
        "취소하면 환불 언제 되나요?",
        "너무 늦어서 예약 취소할래요 절차 알려주세요",
        "환불 신청했는데 {days}일째 처리가 안 됐어요{sad}",
        "주문 취소 버튼이 안 보여요",
        "취소 접수했는데 환불 안 들어왔네요",
        "예약금 환불 받을 수 있나요?",
        "그냥 해지하고 싶어요. 위약금 있나요",
        "예약 철회하려면 고객센터 가야 하나요",
    ],
    "thanks": [
        "오늘 {phone} 받았어요! 감사합니다 😊",
        "빠른 답변 감사해요 덕분에 해결했어요",
        "배송 기사님 친절하셨어요 고마워요",
        "드디어 개통 완료! 수고 많으셨습니다",
        "답장 감사합니다 기다릴게요",
        "고생 많으세요 힘내세요!",
        "친절한 안내 고맙습니다 👍",
        "드디어 받았다 ㅎㅎ 감사해요",
    ],
    "chatter": [
        "오늘 날씨 진짜 좋네요",
        "주말에 뭐하세요?",
        "광고 음악 제목이 뭐예요?",
        "ㅋㅋㅋㅋ 트위터 담당자님 고생이 많네요",
        "올레 광고 모델 누구예요?",
        "점심 뭐 먹지",
        "팔로우 했어요 맞팔해요",
        "이벤트 당첨자 발표 언제 해요?",
    ],
}

EN: dict[str, list[str]] = {
    "delivery": [
        "where is my {phone_en}? ordered friday and still not shipped{sad_en}",
        "it's been {days_en} days and my pre-order hasn't arrived{sad_en}",
        "any update on delivery? tracking says preparing for {days_en} days",
        "you promised delivery by Saturday. nothing yet{sad_en}",
        "Delivery delayed again? at least post a notice",
        "when will pre-orders ship? still waiting in {city_en}",
        "my {phone_en} shipment hasn't moved since Friday",
        "courier never showed up. when is my delivery coming?",
        "still no shipping email for my order{sad_en}",
        "waited all weekend for the delivery{sad_en}",
    ],
    "fees": [
        "is there really a {usd} SIM fee now?",
        "why was I charged an activation fee of {usd}? I was told it was waived",
        "do I have to pay both the sign-up fee and the SIM card fee?",
        "the store says the SIM fee is extra. is that true?",
        "will the sign-up fee be refunded for early buyers?",
        "who decided on a {usd} SIM charge{sad_en}",
        "hidden fees on my first bill: SIM fee AND setup fee",
    ],
    "signup_order": [
        "do I lose my place in line if I sign up later?",
        "heard pre-registration gets priority over pre-orders. true?",
        "is the queue by order date or by sign-up date?",
        "rumour says you must sign up first or your order goes to the back. official answer?",
        "got a call telling me to register before shipping. do I have to?",
        "will my reservation stay if I register after delivery?",
    ],
    "activation": [
        "got my {phone_en} but it won't activate{sad_en}",
        "activation pending for {days_en} hours now",
        "SIM inserted, still says no service. when will activation go through?",
        "activation text came but I can't make calls",
        "no 3G after activation, is the network down?",
        "porting my number is stuck at activation{sad_en}",
        "system error blocking activation, any ETA?",
    ],
    "stock": [
        "is the {city_en} store in stock?",
        "any stores with the 32GB in stock?",
        "walked to the store, they're sold out{sad_en}",
        "when does the next shipment of stock reach stores?",
        "can I check store stock online somewhere?",
        "white model out of stock everywhere in {city_en}",
    ],
    "cancel": [
        "how do I cancel my pre-order?",
        "cancelled {days_en} days ago and still no refund{sad_en}",
        "I want a refund, this is taking too long",
        "where is the cancel button for my order?",
        "can I get my deposit back if I cancel?",
        "is there a fee to cancel the contract?",
    ],
    "thanks": [
        "got my {phone_en} today, thank you!",
        "thanks for the quick reply, sorted now",
        "the courier was lovely, thanks team",
        "finally activated, thanks for the help 👍",
        "appreciate the update, will wait",
    ],
    "chatter": [
        "what's the song in your new ad?",
        "happy friday everyone",
        "who is the model in the commercial?",
        "lol the social team must be exhausted",
        "followed you, follow back?",
        "when are the contest winners announced?",
    ],
}

COUNTS = {"ko": 50, "en": 22}
"""Mentions written for each topic, per language: 8 topics, 576 in all."""


def build(seed: int = 1) -> list[dict[str, str]]:
    rng = random.Random(seed)
    rows: list[dict[str, str]] = []
    for language, topics, handle in (("ko", KO, KO_HANDLE), ("en", EN, EN_HANDLE)):
        for topic, templates in topics.items():
            for n in range(COUNTS[language]):
                text = templates[n % len(templates)]
                text = text.format(**{key: rng.choice(values) for key, values in SLOTS.items()})
                rows.append({"text": _dress(rng, text, handle, language), "label": topic})
    rng.shuffle(rows)
    return rows


def _dress(rng: random.Random, text: str, handle: str, language: str) -> str:
    """As people write: the handle first or last, spacing dropped or doubled, a link or
    a hashtag now and then, the other language mixed in."""
    if language == "ko" and rng.random() < 0.25:
        words = text.split(" ")
        at = rng.randrange(len(words))
        if at + 1 < len(words):
            words[at : at + 2] = [words[at] + words[at + 1]]  # a space left out
        text = " ".join(words)
    if rng.random() < 0.15:
        text = text.lower() if language == "en" else text
    roll = rng.random()
    if roll < 0.08:
        text += " https://t.co/" + "".join(
            rng.choice("abcdefghijkmnpqrstuvwxyz0123456789") for _ in range(10)
        )
    elif roll < 0.16:
        text += rng.choice([" #아이폰", " #iPhone", " #olleh", " #launchday"])
    elif roll < 0.22 and language == "ko":
        text += rng.choice([" plz", " asap", " lol", " OMG"])
    return f"{handle} {text}" if rng.random() < 0.8 else f"{text} {handle}"


def main() -> None:
    rows = build()
    with OUT.open("w", encoding="utf-8") as out:
        for row in rows:
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
    print(f"{len(rows)} mentions written to {OUT.name}")


if __name__ == "__main__":
    main()
