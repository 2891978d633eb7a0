"""The models by key: adding a purchase model is its file and one line here."""
from __future__ import annotations

from .base import PurchaseModel, SpendModel
from .bgnbd import BetaGeo
from .gamma_gamma import GammaGamma
from .mbgnbd import ModifiedBetaGeo
from .nbd import NBD
from .paretonbd import ParetoNBD

__all__ = ["PURCHASE", "SPEND", "COMPARED", "DEFAULT", "LIMIT", "get", "by_name", "model_key"]

#: the purchase models by key, in the order the comparison shows them
PURCHASE: dict[str, type[PurchaseModel]] = {m.key: m for m in (
    BetaGeo, ModifiedBetaGeo, ParetoNBD, NBD)}
#: the spend models by key
SPEND: dict[str, type[SpendModel]] = {m.key: m for m in (GammaGamma,)}
#: the models ``clv_model: auto`` compares, in that order
COMPARED: tuple[str, ...] = tuple(k for k, m in PURCHASE.items() if m.compared)
#: the model used where none is chosen (the holdout check alone; nothing fitted)
DEFAULT = "bgnbd"
#: the limit the compared models reach when no customer loss can be seen (nobody leaves):
#: used, under ``clv_model: auto``, when all of them run to that boundary
LIMIT = NBD.key


def get(model: str | type) -> type:
    """The model class of a key ('bgnbd', …, 'gg'), or the class itself."""
    if isinstance(model, type):
        return model
    return {**PURCHASE, **SPEND}[model]


def by_name(name: str) -> type[PurchaseModel]:
    """The purchase model shown as ``name`` ('BG/NBD', …)."""
    return next(m for m in PURCHASE.values() if m.name == name)


def model_key(fitter) -> str:
    """The key of a fitted model's class."""
    for key, cls in {**PURCHASE, **SPEND}.items():
        if type(fitter) is cls:
            return key
    raise TypeError(f"not one of the project's models: {type(fitter).__name__}")
