//! Microsoft Graph's JSON `$batch` and the dashboard built on it: one request for up to 20
//! sub-requests, answers matched by id in any order, a throttled sub-request retried on its
//! own, and every dashboard section failing on its own (its error kept in the section).

use std::collections::HashMap;
use std::time::Duration;

use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan};
use serde::Serialize;
use serde_json::{Value, json};

use super::graph::*;
use crate::microsoft::error::{GraphError, classify};
use crate::microsoft::model::{
    Birthday, BirthdayFilter, CalendarEvent, DriveItem, MailMessage, RecentSource, plus_days,
    sort_by_modified,
};
use crate::microsoft::odata::rel;
use crate::microsoft::window::Window;

impl Graph {
    // -----------------------------------------------------------------------------------
    // $batch

    /// Runs GET sub-requests `(id, relative url)` in `$batch` requests: one, plus one more
    /// per round of throttled sub-requests (only those are sent again, after the longest
    /// `Retry-After` among them, within the retry policy). Answers are matched by id
    /// (case-insensitively), whatever their order. When every sub-request is refused for its
    /// token, that is [`GraphError::Unauthorized`]; other failures (any other 401 included)
    /// stay in their sub-answer.
    pub(super) async fn batch(
        &self,
        token: &str,
        requests: &[(&str, String)],
    ) -> Result<HashMap<String, SubAnswer>, GraphError> {
        if requests.len() > MAX_BATCH {
            return Err(GraphError::Invalid(format!(
                "a $batch holds at most {MAX_BATCH} requests"
            )));
        }
        let url = format!("{}/$batch", self.base);
        let mut pending: Vec<(&str, String)> = requests.to_vec();
        let mut answers: HashMap<String, SubAnswer> = HashMap::new();
        let mut waited = Duration::ZERO;
        let mut round = 1;
        while !pending.is_empty() {
            let body = json!({
                "requests": pending.iter().map(|(id, u)| json!({
                    "id": id,
                    "method": "GET",
                    "url": u,
                    "headers": {"Prefer": PREFER_UTC},
                })).collect::<Vec<_>>()
            });
            let outer = self.call_batch(token, &url, &body, &mut waited).await?;
            let mut got: HashMap<String, SubAnswer> = HashMap::new();
            for r in outer
                .get("responses")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let Some(id) = r.get("id").and_then(|i| match i {
                    Value::String(s) => Some(s.clone()),
                    Value::Number(n) => Some(n.to_string()),
                    _ => None,
                }) else {
                    continue;
                };
                let Some((want, _)) = pending.iter().find(|(p, _)| p.eq_ignore_ascii_case(&id))
                else {
                    continue;
                };
                let status = r
                    .get("status")
                    .and_then(Value::as_u64)
                    .and_then(|s| u16::try_from(s).ok())
                    .unwrap_or(0);
                let retry_after = r
                    .get("headers")
                    .and_then(Value::as_object)
                    .and_then(|h| {
                        h.iter()
                            .find(|(k, _)| k.eq_ignore_ascii_case("retry-after"))
                            .map(|(_, v)| v)
                    })
                    .and_then(|v| match v {
                        Value::String(s) => parse_retry_after(s),
                        Value::Number(n) => {
                            n.as_f64().and_then(|f| parse_retry_after(&f.to_string()))
                        }
                        _ => None,
                    });
                let body = sub_body(r.get("body"));
                got.entry(want.to_string()).or_insert(SubAnswer {
                    status,
                    retry_after,
                    body,
                });
            }
            // A rejected token is rejected everywhere: only when *every* answer says so is it
            // the token (refresh and retry). Any other 401 — `OrganizationFromTenantGuidNotFound`
            // from Exchange for users without a mailbox, or one odd section — stays in its
            // section and costs no refresh.
            if !got.is_empty()
                && got.values().all(|a| {
                    a.status == 401 && classify(a.status, &a.body, None, "").is_unauthorized()
                })
            {
                return Err(GraphError::Unauthorized);
            }
            let mut throttled: Vec<(&str, String)> = Vec::new();
            let mut longest: Option<Duration> = None;
            let mut any_without_hint = false;
            for (id, u) in pending {
                match got.remove(id) {
                    Some(a) if matches!(a.status, 429 | 503) => {
                        match a.retry_after {
                            Some(d) => longest = Some(longest.map_or(d, |l| l.max(d))),
                            None => any_without_hint = true,
                        }
                        answers.insert(id.to_string(), a);
                        throttled.push((id, u));
                    }
                    Some(a) => {
                        answers.insert(id.to_string(), a);
                    }
                    None => {
                        answers.insert(
                            id.to_string(),
                            SubAnswer {
                                status: 0,
                                retry_after: None,
                                body: json!({"error":{"code":"missing","message":"no answer for this request in the $batch response"}}),
                            },
                        );
                    }
                }
            }
            if throttled.is_empty() {
                break;
            }
            let wait = match (longest, any_without_hint) {
                (Some(l), false) => l,
                (Some(l), true) => l.max(backoff(round)),
                (None, _) => backoff(round),
            };
            if round >= self.max_attempts || waited + wait > self.max_wait {
                break; // the throttled answers stay as they are
            }
            tokio::time::sleep(wait).await;
            waited += wait;
            round += 1;
            pending = throttled;
        }
        Ok(answers)
    }

    /// `page` with the items of the pages its nextLinks lead to (same origin, up to the page
    /// cap). A failing page ends the walk: what was read is kept, and the nextLink stays to
    /// say there is more.
    pub(super) async fn rest_of(&self, token: &str, page: &Value, hint: &str) -> Value {
        let mut vals = values(page).cloned().unwrap_or_default();
        let mut next = next_link(page).map(str::to_owned);
        let mut pages = 1;
        while let Some(link) = next.take() {
            if pages >= self.page_cap || self.check_origin(&link).is_err() {
                next = Some(link);
                break;
            }
            match self.get(token, &link, hint).await {
                Ok(p) => {
                    vals.extend(values(&p).cloned().unwrap_or_default());
                    next = next_link(&p).map(str::to_owned);
                    pages += 1;
                }
                Err(_) => {
                    next = Some(link);
                    break;
                }
            }
        }
        let mut out = json!({ "value": vals });
        if let Some(n) = next {
            out["@odata.nextLink"] = json!(n);
        }
        out
    }

    /// The contacts of these folders (first page each), in `$batch`es of
    /// [`EXCHANGE_BATCH`]; `true` when something is missing (a failed sub-request, more pages
    /// or more folders than [`MAX_CONTACT_FOLDERS`]).
    pub(super) async fn folder_contacts(
        &self,
        token: &str,
        folders: &[String],
    ) -> (Vec<Value>, bool) {
        let mut out = Vec::new();
        let mut partial = folders.len() > MAX_CONTACT_FOLDERS;
        let ids: Vec<String> = (0..folders.len().min(MAX_CONTACT_FOLDERS))
            .map(|i| format!("f{i}"))
            .collect();
        let reqs: Vec<(&str, String)> = folders
            .iter()
            .zip(&ids)
            .map(|(f, id)| (id.as_str(), folder_contacts_url(f)))
            .collect();
        for chunk in reqs.chunks(EXCHANGE_BATCH) {
            match self.batch(token, chunk).await {
                Ok(answers) => {
                    for a in answers.values() {
                        match values(&a.body) {
                            Ok(v) if (200..300).contains(&a.status) => {
                                out.extend(v.iter().cloned());
                                partial |= next_link(&a.body).is_some();
                            }
                            _ => partial = true,
                        }
                    }
                }
                Err(_) => partial = true,
            }
        }
        (out, partial)
    }

    /// POSTs one `$batch`; the outer request is itself retried on 429/503 (sharing the wait
    /// budget). Both documented outer statuses for a parseable batch — 200, and 424 from the
    /// older throttling doc — are accepted when the body has `responses`.
    pub(super) async fn call_batch(
        &self,
        token: &str,
        url: &str,
        body: &Value,
        waited: &mut Duration,
    ) -> Result<Value, GraphError> {
        let mut attempt = 1;
        loop {
            let req = self
                .client
                .post(url)
                .bearer_auth(token)
                .header(reqwest::header::ACCEPT, "application/json")
                .header("Prefer", PREFER_UTC)
                .json(body);
            let raw = self.send_once(req).await?;
            let v: Value = serde_json::from_slice(&raw.body).unwrap_or(Value::Null);
            if (raw.status == 200 || raw.status == 424)
                && v.get("responses").and_then(Value::as_array).is_some()
            {
                return Ok(v);
            }
            if (200..300).contains(&raw.status) {
                return Err(GraphError::Malformed(
                    "a $batch answer without a \"responses\" array".into(),
                ));
            }
            if matches!(raw.status, 429 | 503) {
                let wait = raw.retry_after.unwrap_or_else(|| backoff(attempt));
                if attempt < self.max_attempts && *waited + wait <= self.max_wait {
                    tokio::time::sleep(wait).await;
                    *waited += wait;
                    attempt += 1;
                    continue;
                }
            }
            return Err(classify(raw.status, &v, raw.retry_after, "User.Read"));
        }
    }

    /// Next appointments, recently used files, important unread mail and upcoming
    /// birthdays, fetched with **one** `$batch` request. More requests only when needed: the
    /// throttled sub-requests sent again; the further pages of the drive search when
    /// `/me/drive/recent` has nothing (recently modified files, approximate); the contacts of
    /// the folders below the default Contacts folder not known from an earlier call
    /// ([`Graph::dashboard_with`]; one more `$batch` per [`EXCHANGE_BATCH`] of them; their child
    /// folders are not read here). Each section
    /// carries its own error (a missing scope, no mailbox — also Exchange's 401
    /// `OrganizationFromTenantGuidNotFound` —, still throttled) so the others still show;
    /// only a token refused by every sub-request fails the whole call with
    /// [`GraphError::Unauthorized`]. Sections hold one page each: `more` says Graph had more.
    pub async fn dashboard(
        &self,
        token: &str,
        now: Timestamp,
        tz: &TimeZone,
    ) -> Result<Dashboard, GraphError> {
        Ok(self.dashboard_with(token, now, tz, None).await?.0)
    }

    /// [`Graph::dashboard`], with the contact folders (below the default one) known from an
    /// earlier call: their contacts join the one `$batch` (up to [`MAX_BATCH`] sub-requests in
    /// all), so the dashboard is one request while they stay the same. The batch still lists
    /// the folders: one added since is read in one more request, one removed (Graph answers
    /// 404 for its contacts) is dropped. Also returns the folders Graph listed, for the next
    /// call (`None` when that listing failed: keep what was known).
    pub async fn dashboard_with(
        &self,
        token: &str,
        now: Timestamp,
        tz: &TimeZone,
        known: Option<&[String]>,
    ) -> Result<(Dashboard, Option<Vec<String>>), GraphError> {
        let window = Window {
            start: now,
            end: now
                .to_zoned_datetime(tz.clone())
                .checked_add(DASHBOARD_EVENT_DAYS.days())
                .map(|z| z.timestamp())
                .unwrap_or(now),
        };
        let today = now.to_zoned_datetime(tz.clone()).date();
        let requests: Vec<(&str, String)> = vec![
            ("calendar", calendar_url(&window, DASHBOARD_EVENTS * 3)),
            ("recent", rel("/me/drive/recent", &[])),
            ("files", recent_fallback_url()),
            (
                "mail",
                rel(
                    "/me/mailFolders/inbox/messages",
                    &[
                        ("$filter", format!("{MAIL_FILTER_HEAD} and isRead eq false")),
                        ("$orderby", "receivedDateTime desc".into()),
                        ("$select", MAIL_SELECT.into()),
                        ("$top", "50".into()),
                    ],
                ),
            ),
            ("birthdays", contacts_url()),
            ("contactFolders", contact_folders_url(None)),
        ];
        // The known folders' contacts, as far as the batch has room (ids `f0`, `f1`, …).
        let joined: Vec<&String> = known
            .unwrap_or_default()
            .iter()
            .take((MAX_BATCH - requests.len()).min(MAX_CONTACT_FOLDERS))
            .collect();
        let folder_ids: Vec<String> = (0..joined.len()).map(|i| format!("f{i}")).collect();
        let mut requests = requests;
        requests.extend(
            joined
                .iter()
                .zip(&folder_ids)
                .map(|(f, id)| (id.as_str(), folder_contacts_url(f))),
        );
        let mut answers = self.batch(token, &requests).await?;
        let mut joined_answers: HashMap<&str, SubAnswer> = joined
            .iter()
            .zip(&folder_ids)
            .filter_map(|(f, id)| Some((f.as_str(), answers.remove(id)?)))
            .collect();
        let mut take = |id: &str| answers.remove(id);

        let appointments = section(take("calendar"), "Calendars.ReadBasic", |v| {
            let mut items = events_in(values(v)?.iter(), &window, tz);
            items.truncate(DASHBOARD_EVENTS);
            Ok(items)
        });

        let recent = take("recent");
        let fallback = take("files");
        let recent_items = recent
            .as_ref()
            .filter(|a| (200..300).contains(&a.status))
            .and_then(|a| values(&a.body).ok())
            .map(|v| {
                v.iter()
                    .filter_map(DriveItem::from_graph)
                    .collect::<Vec<_>>()
            })
            .filter(|v| !v.is_empty());
        let (files, files_source) = match recent_items {
            // /recent's own order: most recently used first.
            Some(mut items) => {
                let more = recent
                    .as_ref()
                    .is_some_and(|a| next_link(&a.body).is_some());
                items.truncate(DASHBOARD_FILES);
                (
                    Section {
                        items,
                        more,
                        error: None,
                        error_kind: None,
                    },
                    RecentSource::Recent,
                )
            }
            None => {
                // A 403 on /recent says more than whatever the fallback says.
                let pick = match &recent {
                    Some(a) if a.status == 403 => recent,
                    // Search answers in relevance order: read every page (up to the cap)
                    // before sorting by modification time.
                    _ => match fallback {
                        Some(mut a) if (200..300).contains(&a.status) => {
                            a.body = self.rest_of(token, &a.body, "Files.Read").await;
                            Some(a)
                        }
                        other => other,
                    },
                };
                let s = section(pick, "Files.Read", |v| {
                    let mut items: Vec<DriveItem> = values(v)?
                        .iter()
                        .filter_map(DriveItem::from_graph)
                        .collect();
                    sort_by_modified(&mut items);
                    items.truncate(DASHBOARD_FILES);
                    Ok(items)
                });
                (s, RecentSource::Search)
            }
        };

        let mail = section(take("mail"), "Mail.ReadBasic", |v| {
            let mut items: Vec<MailMessage> = values(v)?
                .iter()
                .filter_map(MailMessage::from_graph)
                .filter(MailMessage::is_important)
                .collect();
            items.truncate(DASHBOARD_MAIL);
            Ok(items)
        });

        // The default folder came in the batch, and the known folders' contacts with it; a
        // folder not known (or not answered) needs its id first, so one more request.
        let mut contacts = take("birthdays");
        let mut partial = false;
        let listed = take("contactFolders")
            .filter(|a| (200..300).contains(&a.status))
            .map(|a| folder_ids_in(values(&a.body).map(Vec::as_slice).unwrap_or(&[])));
        // Without the listing, the known folders stand (a failed answer among them is missing).
        let folders: Vec<String> = match &listed {
            Some(l) => l.clone(),
            None => joined.iter().map(|f| f.to_string()).collect(),
        };
        if let Some(a) = contacts
            .as_mut()
            .filter(|a| (200..300).contains(&a.status) && !folders.is_empty())
        {
            let mut more_vals = Vec::new();
            let mut unread = Vec::new();
            for f in folders.iter().take(MAX_CONTACT_FOLDERS) {
                match joined_answers.remove(f.as_str()) {
                    Some(j) if (200..300).contains(&j.status) => match values(&j.body) {
                        Ok(v) => {
                            more_vals.extend(v.iter().cloned());
                            partial |= next_link(&j.body).is_some();
                        }
                        Err(_) => partial = true,
                    },
                    Some(_) if listed.is_none() => partial = true,
                    _ => unread.push(f.clone()),
                }
            }
            partial |= folders.len() > MAX_CONTACT_FOLDERS;
            if !unread.is_empty() {
                let (vals, missing) = self.folder_contacts(token, &unread).await;
                more_vals.extend(vals);
                partial |= missing;
            }
            if let Some(v) = a.body.get_mut("value").and_then(Value::as_array_mut) {
                v.extend(more_vals);
            }
        }
        let mut birthdays = section(contacts, "Contacts.Read", |v| {
            Ok(birthdays_in(
                unique_by_id(values(v)?.clone()).iter(),
                BirthdayFilter::NextDays(DASHBOARD_BIRTHDAY_DAYS),
                today,
            ))
        });
        if birthdays.error.is_none() {
            birthdays.more |= partial;
        }

        Ok((
            Dashboard {
                generated_at: now,
                time_zone: tz_name(tz),
                birthdays_until: plus_days(today, i64::from(DASHBOARD_BIRTHDAY_DAYS)),
                appointments_until: window.end,
                appointments,
                files,
                files_source,
                mail,
                birthdays,
            },
            listed,
        ))
    }
}

/// A sub-response body: JSON, or (for non-JSON content types) a string that may hold JSON
/// or base64-encoded JSON.
pub(super) fn sub_body(v: Option<&Value>) -> Value {
    use base64::Engine;
    match v {
        Some(Value::String(s)) => serde_json::from_str(s).unwrap_or_else(|_| {
            base64::engine::general_purpose::STANDARD
                .decode(s)
                .ok()
                .and_then(|b| serde_json::from_slice(&b).ok())
                .unwrap_or(Value::Null)
        }),
        Some(v) => v.clone(),
        None => Value::Null,
    }
}

pub(super) fn section<T>(
    answer: Option<SubAnswer>,
    hint: &str,
    parse: impl FnOnce(&Value) -> Result<Vec<T>, GraphError>,
) -> Section<T> {
    let failed = |e: GraphError| Section {
        items: Vec::new(),
        more: false,
        error_kind: Some(e.kind()),
        error: Some(e.to_string()),
    };
    let Some(a) = answer else {
        return failed(GraphError::Malformed("no answer for this section".into()));
    };
    if !(200..300).contains(&a.status) {
        return failed(classify(a.status, &a.body, a.retry_after, hint));
    }
    match parse(&a.body) {
        Ok(items) => Section {
            items,
            more: next_link(&a.body).is_some(),
            error: None,
            error_kind: None,
        },
        Err(e) => failed(e),
    }
}

/// One part of the [`Dashboard`].
#[derive(Clone, Debug, Serialize)]
pub struct Section<T> {
    pub items: Vec<T>,
    /// Graph had more than the one page the dashboard fetches.
    pub more: bool,
    /// Why this part is empty, one line ([`GraphError`]'s text), e.g. the scope to add.
    pub error: Option<String>,
    /// [`GraphError::kind`] of that error.
    pub error_kind: Option<&'static str>,
}

/// `ms dashboard`.
#[derive(Clone, Debug, Serialize)]
pub struct Dashboard {
    pub generated_at: Timestamp,
    /// The zone times are shown in (IANA name, or an offset).
    pub time_zone: String,
    /// Appointments from `generated_at` up to this instant.
    pub appointments_until: Timestamp,
    /// Birthdays from today up to and including this date.
    pub birthdays_until: Date,
    pub appointments: Section<CalendarEvent>,
    pub files: Section<DriveItem>,
    pub files_source: RecentSource,
    /// Unread inbox mail that is high-importance, flagged or in the Focused Inbox.
    pub mail: Section<MailMessage>,
    pub birthdays: Section<Birthday>,
}
