//! The approval transport against the fake Bot API: a message with buttons (checked locally and
//! retried like the sign-in messages), presses read by long polling, one poller per bot,
//! answering a press, editing the outcome, and no token in any error.

use crate::common;

use std::time::{Duration, Instant};

use common::*;
use sidekey_notify::TelegramConfig;
use sidekey_notify::approval::{Button, Incoming, Posted, Press, Presser};
use sidekey_notify::bot::{Bot, BotError};
use sidekey_testkit::{CallbackAnswer, FakeTelegram, TgFault};

const ADA: i64 = 424242;

fn cfg(fake: &FakeTelegram, token: &str) -> TelegramConfig {
    TelegramConfig {
        bot_token: token.to_string(),
        chat_id: CHAT.to_string(),
        api_base: fake.api_base(),
    }
}

fn approve_deny() -> Vec<Vec<Button>> {
    vec![vec![
        Button::new("Approve", "a:Zx81"),
        Button::new("Deny", "d:Zx81"),
    ]]
}

const HTML: &str = "Send mail to <b>bob@example.test</b>?\n<code>R&amp;D</code>";

/// Ada started the bot; the bot asks her with two buttons.
async fn asked(fake: &FakeTelegram, client: &reqwest::Client, cfg: &TelegramConfig) -> Posted {
    fake.user_with_username_sends(ADA, "Ada", "ada", "/start");
    Bot::new(client, cfg)
        .send_with_buttons(HTML, &approve_deny())
        .await
        .unwrap()
}

#[tokio::test]
async fn the_message_carries_html_and_the_buttons() {
    let fake = FakeTelegram::start(TOKEN);
    let (client, cfg) = (client(), cfg(&fake, TOKEN));
    let posted = asked(&fake, &client, &cfg).await;
    let sent = &fake.messages()[0];
    assert_eq!(
        posted,
        Posted {
            chat_id: ADA,
            message_id: sent.message_id
        }
    );
    assert_eq!(sent.text, HTML);
    assert_eq!(sent.parse_mode.as_deref(), Some("HTML"));
    assert_eq!(
        fake.buttons(posted.message_id),
        [vec![
            ("Approve".to_string(), "a:Zx81".to_string()),
            ("Deny".to_string(), "d:Zx81".to_string())
        ]]
    );
}

#[tokio::test]
async fn buttons_telegram_would_refuse_are_refused_before_any_request() {
    let fake = FakeTelegram::start(TOKEN);
    let (client, cfg) = (client(), cfg(&fake, TOKEN));
    let bot = Bot::new(&client, &cfg);
    for rows in [
        vec![vec![Button::new("Approve", "x".repeat(65))]],
        vec![vec![Button::new("Approve", "é".repeat(33))]],
        vec![vec![Button::new("Approve", "")]],
        vec![vec![Button::new("", "a")]],
        vec![],
    ] {
        let err = bot.send_with_buttons(HTML, &rows).await.unwrap_err();
        assert!(
            matches!(err, BotError::Refused { status: 0, .. }),
            "{err:?}"
        );
        assert!(!err.to_string().contains('\n'), "{err}");
    }
    let err = bot
        .send_with_buttons(" ", &approve_deny())
        .await
        .unwrap_err();
    assert!(
        matches!(err, BotError::Refused { status: 0, .. }),
        "{err:?}"
    );
    let no_chat = TelegramConfig {
        chat_id: String::new(),
        ..cfg.clone()
    };
    let err = Bot::new(&client, &no_chat)
        .send_with_buttons(HTML, &approve_deny())
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "Telegram: no chat id configured");
    assert!(fake.requests().is_empty(), "{:?}", fake.requests());
    // 64 bytes is fine.
    let ok = vec![vec![Button::new("Approve", "é".repeat(32))]];
    bot.send_with_buttons(HTML, &ok).await.unwrap();
}

#[tokio::test]
async fn sending_and_editing_retry_like_the_sign_in_messages() {
    let fake = FakeTelegram::start(TOKEN);
    let (client, cfg) = (client(), cfg(&fake, TOKEN));
    let bot = Bot::new(&client, &cfg).with_retry_policy(fast());
    fake.inject([
        TgFault::TooManyRequests { retry_after: 1 },
        TgFault::Status(502),
    ]);
    let started = Instant::now();
    let posted = bot.send_with_buttons(HTML, &approve_deny()).await.unwrap();
    assert!(
        started.elapsed() >= Duration::from_millis(950),
        "retry_after honoured"
    );
    assert_eq!(fake.requests(), ["sendMessage"; 3]);
    assert_eq!(fake.messages().len(), 1);

    fake.inject([TgFault::Status(503)]);
    bot.edit_text(posted.chat_id, posted.message_id, "Approved.")
        .await
        .unwrap();
    assert_eq!(fake.edits().len(), 1);

    // Refusals are not retried, and keep Telegram's words and status.
    let err = bot
        .send_with_buttons("R&D", &approve_deny())
        .await
        .unwrap_err();
    match &err {
        BotError::Refused {
            status: 400,
            description,
        } => assert!(
            description.starts_with("Bad Request: can't parse entities"),
            "{description}"
        ),
        other => panic!("{other:?}"),
    }
    assert_eq!(fake.requests().len(), 6);

    // Giving up says so.
    fake.inject(std::iter::repeat_n(TgFault::Status(503), 4));
    let err = bot
        .send_with_buttons(HTML, &approve_deny())
        .await
        .unwrap_err();
    match &err {
        BotError::Unreachable(d) => assert!(d.contains("gave up after 4 attempts"), "{d}"),
        other => panic!("{other:?}"),
    }
    assert!(err.to_string().starts_with("Telegram: HTTP 503"), "{err}");
}

#[tokio::test]
async fn a_press_is_read_typed_and_the_offset_moves_past_everything() {
    let fake = FakeTelegram::start(TOKEN);
    let (client, cfg) = (client(), cfg(&fake, TOKEN));
    let bot = Bot::new(&client, &cfg);
    let posted = asked(&fake, &client, &cfg).await;
    let first = bot.poll_presses(0, Duration::ZERO).await.unwrap();
    assert!(
        matches!(first.as_slice(), [Incoming::Other { .. }]),
        "{first:?}"
    );
    let mut offset = first[0].update_id() + 1;
    let query = fake
        .press_label(posted.message_id, "Deny", ADA, Some("ada"))
        .unwrap();
    fake.user_sends(ADA, "Ada", "why?");
    let got = bot.poll_presses(offset, Duration::ZERO).await.unwrap();
    assert_eq!(got.len(), 2, "{got:?}");
    let Incoming::Press(press) = &got[0] else {
        panic!("{got:?}")
    };
    assert_eq!(
        press,
        &Press {
            update_id: press.update_id,
            callback_query_id: query,
            from: Presser {
                id: ADA,
                username: Some("ada".into()),
                first_name: "Ada".into(),
            },
            chat_id: Some(posted.chat_id),
            message_id: Some(posted.message_id),
            data: "d:Zx81".into(),
        }
    );
    assert!(matches!(got[1], Incoming::Other { .. }));
    offset = got[1].update_id() + 1;
    assert!(
        bot.poll_presses(offset, Duration::ZERO)
            .await
            .unwrap()
            .is_empty()
    );
    // What it asked Telegram for: presses and messages, the offset, the wait.
    let asked_for = fake.requests();
    assert_eq!(asked_for.iter().filter(|m| *m == "getUpdates").count(), 3);
}

/// Press → the waiting poll answers at once, not when its wait ends.
#[tokio::test]
async fn a_waiting_poll_answers_as_soon_as_the_button_is_pressed() {
    let fake = FakeTelegram::start(TOKEN);
    let (client, cfg) = (client(), cfg(&fake, TOKEN));
    let posted = asked(&fake, &client, &cfg).await;
    let offset = Bot::new(&client, &cfg)
        .poll_presses(0, Duration::ZERO)
        .await
        .unwrap()[0]
        .update_id()
        + 1;
    let (c2, cfg2) = (client.clone(), cfg.clone());
    let poll = tokio::spawn(async move {
        Bot::new(&c2, &cfg2)
            .poll_presses(offset, Duration::from_secs(10))
            .await
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let pressed = Instant::now();
    fake.press(posted.message_id, "a:Zx81", ADA, None).unwrap();
    let got = poll.await.unwrap().unwrap();
    assert!(
        pressed.elapsed() < Duration::from_millis(500),
        "{:?} after the press",
        pressed.elapsed()
    );
    assert!(
        matches!(&got[..], [Incoming::Press(p)] if p.data == "a:Zx81"),
        "{got:?}"
    );
}

#[tokio::test]
async fn a_second_poller_or_a_webhook_is_a_conflict() {
    let fake = FakeTelegram::start(TOKEN);
    let (client, cfg) = (client(), cfg(&fake, TOKEN));
    let (c2, cfg2) = (client.clone(), cfg.clone());
    let waiting = tokio::spawn(async move {
        Bot::new(&c2, &cfg2)
            .poll_presses(0, Duration::from_secs(10))
            .await
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Another sidekey (or anything else) polls the same bot: the waiting poll is terminated.
    let other = Bot::new(&client, &cfg)
        .poll_presses(0, Duration::ZERO)
        .await;
    assert!(other.is_ok(), "{other:?}");
    match waiting.await.unwrap() {
        Err(BotError::Conflict(d)) => {
            assert!(d.contains("terminated by other getUpdates request"), "{d}")
        }
        other => panic!("{other:?}"),
    }
    fake.polled_by_another();
    let err = Bot::new(&client, &cfg)
        .poll_presses(0, Duration::from_secs(5))
        .await
        .unwrap_err();
    assert!(matches!(err, BotError::Conflict(_)), "{err:?}");

    let fake = FakeTelegram::start(TOKEN);
    fake.webhook_set();
    let cfg = self::cfg(&fake, TOKEN);
    match Bot::new(&client, &cfg)
        .poll_presses(0, Duration::ZERO)
        .await
    {
        Err(BotError::Conflict(d)) => assert!(
            d.contains("can't use getUpdates method while webhook is active"),
            "{d}"
        ),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_press_is_answered_once_with_a_short_line() {
    let fake = FakeTelegram::start(TOKEN);
    let (client, cfg) = (client(), cfg(&fake, TOKEN));
    let bot = Bot::new(&client, &cfg);
    let posted = asked(&fake, &client, &cfg).await;
    let query = fake.press(posted.message_id, "a:Zx81", ADA, None).unwrap();
    let long = format!("Approved:\n{}", "x".repeat(300));
    bot.answer_press(&query, &long, true).await.unwrap();
    let answers = fake.answers();
    let text = answers[0].text.clone().unwrap();
    assert_eq!(text.chars().count(), 200);
    assert!(
        text.starts_with("Approved: xxx") && text.ends_with('…'),
        "{text}"
    );
    assert!(answers[0].show_alert);
    // Twice: Telegram's refusal, as it said it.
    match bot.answer_press(&query, "", false).await.unwrap_err() {
        BotError::Refused {
            status: 400,
            description,
        } => assert_eq!(
            description,
            "Bad Request: query is too old and response timeout expired or query ID is invalid"
        ),
        other => panic!("{other:?}"),
    }
    // No text: no notification, just the spinner stopped.
    let q2 = fake.press(posted.message_id, "d:Zx81", ADA, None).unwrap();
    bot.answer_press(&q2, "  ", false).await.unwrap();
    assert_eq!(
        fake.answers()[1],
        CallbackAnswer {
            callback_query_id: q2,
            text: None,
            show_alert: false
        }
    );
}

#[tokio::test]
async fn the_edit_removes_the_buttons_and_the_same_edit_twice_is_fine() {
    let fake = FakeTelegram::start(TOKEN);
    let (client, cfg) = (client(), cfg(&fake, TOKEN));
    let bot = Bot::new(&client, &cfg);
    let posted = asked(&fake, &client, &cfg).await;
    let outcome = "✅ <b>Approved</b> by Ada: sent.";
    bot.edit_text(posted.chat_id, posted.message_id, outcome)
        .await
        .unwrap();
    assert!(fake.buttons(posted.message_id).is_empty());
    let edits = fake.edits();
    assert_eq!(edits[0].text, outcome);
    assert_eq!(edits[0].parse_mode.as_deref(), Some("HTML"));
    assert!(fake.press(posted.message_id, "a:Zx81", ADA, None).is_err());

    bot.edit_text(posted.chat_id, posted.message_id, outcome)
        .await
        .unwrap();
    assert!(
        fake.rejected()
            .last()
            .is_some_and(|d| d.starts_with("Bad Request: message is not modified")),
        "{:?}",
        fake.rejected()
    );
    assert_eq!(fake.edits().len(), 1);

    let err = bot
        .edit_text(posted.chat_id, posted.message_id + 40, outcome)
        .await
        .unwrap_err();
    assert_eq!(
        err,
        BotError::Refused {
            status: 400,
            description: "Bad Request: message to edit not found".into()
        }
    );
}

#[tokio::test]
async fn the_token_is_in_no_error() {
    let fake = FakeTelegram::start(TOKEN);
    let client = client();
    let wrong = "987654321:AAWrongSecretTokenShouldNeverLeak_42";
    let cfg = self::cfg(&fake, wrong);
    let bot = Bot::new(&client, &cfg).with_retry_policy(fast());
    let errors = [
        bot.send_with_buttons(HTML, &approve_deny())
            .await
            .unwrap_err(),
        bot.poll_presses(0, Duration::ZERO).await.unwrap_err(),
        bot.answer_press("1", "x", false).await.unwrap_err(),
        bot.edit_text(ADA, 1, "x").await.unwrap_err(),
    ];
    for e in &errors {
        assert_eq!(e, &BotError::Unauthorized);
    }
    assert_eq!(fake.requests().len(), 4, "a 401 is not retried");

    // Nothing listens: the transport error would carry the URL, token and all.
    let dead = TelegramConfig {
        api_base: format!("http://127.0.0.1:{}", closed_port()),
        ..self::cfg(&fake, TOKEN)
    };
    let bot = Bot::new(&client, &dead).with_retry_policy(fast());
    let errors = [
        bot.send_with_buttons(HTML, &approve_deny())
            .await
            .unwrap_err(),
        bot.poll_presses(0, Duration::ZERO).await.unwrap_err(),
        bot.answer_press("1", "x", false).await.unwrap_err(),
        bot.edit_text(ADA, 1, "x").await.unwrap_err(),
    ];
    for e in &errors {
        let text = format!("{e} {e:?}");
        assert!(matches!(e, BotError::Unreachable(_)), "{text}");
        assert!(
            !text.contains(TOKEN) && !text.contains("AAHsecret"),
            "{text}"
        );
        assert!(!text.contains("/bot"), "{text}");
    }
}
