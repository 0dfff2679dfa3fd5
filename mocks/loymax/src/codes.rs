//! The one name→number table of the protocol's error codes.
//!
//! The names are Loymax's (`ErrorCode` of the public API, declaration order). The numbers are
//! **unverified**: 0, 201, 216, 217, 218, 221 and 224 are observed in real XML, the rest follows
//! the hypothesis of spec 1.8 (business errors numbered from 201 in declaration order, the eight
//! protocol errors at their enum positions 1–8). Every user-facing page says so.

use thiserror::Error;

macro_rules! codes {
    ($($name:ident = $num:expr, $text:expr;)*) => {
        /// A Loymax error code.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Error)]
        #[allow(missing_docs)]
        pub enum Code {
            $(#[error($text)] $name,)*
        }

        impl Code {
            /// The number sent in `ErrorCode` (hypothesis; see the module docs).
            pub fn number(self) -> u16 {
                match self { $(Self::$name => $num,)* }
            }

            /// Loymax's name of the code.
            pub fn name(self) -> &'static str {
                match self { $(Self::$name => stringify!($name),)* }
            }

            /// Every code, in table order.
            pub const ALL: &'static [Code] = &[$(Self::$name,)*];
        }
    };
}

codes! {
    Ok = 0, "Ok";
    SystemError = 1, "Внутренняя ошибка процессинга";
    VersionError = 2, "Неподдерживаемая версия протокола";
    ParseError = 3, "Документ не является корректным XML";
    FormatException = 4, "Неверный формат запроса";
    RequereFieldException = 5, "Не заполнено обязательное поле";
    SignatureError = 6, "Подпись запроса не прошла проверку";
    SignatureNotFound = 7, "Запрос не подписан";
    CertificateError = 8, "Ключ устройства не найден или недействителен";
    CardNotFound = 201, "Карта не найдена";
    DeviceNotFound = 202, "Устройство не найдено";
    LargePaymentAmount = 203, "Сумма списания превышает лимит операции";
    NotEnoughMoney = 204, "Недостаточно бонусов на счёте";
    CardBlocked = 205, "Card is blocked";
    DeviceBlocked = 206, "Устройство заблокировано";
    NotUniqueOperationID = 207, "OperationID уже использован с другим запросом";
    OperationNotFound = 208, "Операция не найдена";
    OperationIsConfirmed = 209, "Операция уже подтверждена";
    OperationIsCanceled = 210, "Операция уже отменена";
    WrongPin = 211, "Неверный PIN";
    CashierNotFound = 212, "Кассир не найден";
    CardHolderNotFound = 213, "Владелец карты не найден";
    CardNotActivated = 214, "Карта не активирована";
    DiscountException = 215, "Ошибка расчёта скидки";
    PurchaseNotFound = 216, "Покупка не найдена";
    DifferentCheque = 217, "Чек отличается от рассчитанного";
    IncorrectOperationOrder = 218, "Неверный порядок операций";
    CardExtraPayment = 219, "Сумма списания превышает баланс карты";
    ConfirmedPurchaseOperation = 220, "Операция по подтверждённой покупке";
    PurchaseExtraPayment = 221, "Сумма списания превышает допустимую для покупки";
    LimitGained = 222, "Превышен лимит операций";
    PaymentException = 223, "Ошибка списания";
    DifferentPurchase = 224, "Чек возврата не соответствует покупке";
    CouponsException = 225, "Ошибка купона";
    BusinessError = 226, "Бизнес-ошибка";
    ApplicationDeviceGrant = 227, "Нет прав устройства";
    NotUniquePurchaseID = 228, "PurchaseID уже использован";
    UnspecifiedLoyaltyProgram = 229, "Не указана программа лояльности";
    DivisibilityError = 230, "Ошибка делимости";
    DifferentLegals = 231, "Разные юридические лица";
    Created = 232, "Создано";
    PayTypeIsNotExist = 233, "Тип оплаты не существует";
    PayTypeIsArchived = 234, "Тип оплаты в архиве";
    CardExpired = 235, "Срок действия карты истёк";
    GiftCertificateError = 236, "Ошибка подарочного сертификата";
    PurchaseOperationConflict = 237, "Конфликт операций по покупке";
}

impl Code {
    /// Whether the code reports a failure of the whole document (envelope `ErrorCode`) rather
    /// than a business outcome of one element.
    pub fn is_protocol_level(self) -> bool {
        (1..=8).contains(&self.number())
    }
}

/// A failure with its code and a message for `ErrorMessage`.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{code:?} ({}): {message}", code.number())]
pub struct Failure {
    /// The code.
    pub code: Code,
    /// Human-readable detail (Russian, as the processing's own texts).
    pub message: String,
}

impl Failure {
    /// A failure with the code's standard text.
    pub fn new(code: Code) -> Self {
        Self {
            code,
            message: code.to_string(),
        }
    }

    /// A failure with a specific text.
    pub fn with(code: Code, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

impl From<Code> for Failure {
    fn from(code: Code) -> Self {
        Self::new(code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observed_numbers_fit_the_hypothesis() {
        // The numbers seen in real XML (spec 1.8) and the meaning the clients gave them.
        assert_eq!(Code::Ok.number(), 0);
        assert_eq!(Code::CardNotFound.number(), 201);
        assert_eq!(Code::PurchaseNotFound.number(), 216);
        assert_eq!(Code::DifferentCheque.number(), 217);
        assert_eq!(Code::IncorrectOperationOrder.number(), 218);
        assert_eq!(Code::PurchaseExtraPayment.number(), 221);
        assert_eq!(Code::DifferentPurchase.number(), 224);
        assert_eq!(Code::PurchaseOperationConflict.number(), 237);
    }

    #[test]
    fn business_codes_follow_the_declaration_order_from_201() {
        let business: Vec<_> = Code::ALL.iter().filter(|c| c.number() >= 201).collect();
        for (i, code) in business.iter().enumerate() {
            assert_eq!(code.number() as usize, 201 + i, "{code:?}");
        }
        assert_eq!(business.len(), 37);
        let protocol: Vec<_> = Code::ALL.iter().filter(|c| c.is_protocol_level()).collect();
        assert_eq!(protocol.len(), 8);
    }
}
