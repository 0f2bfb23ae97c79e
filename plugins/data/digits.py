"""Dataset ``digits``: scikit-learn's 8x8 handwritten digits (1797 samples, 10 classes). Offline; the
default."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

import condensekit

if TYPE_CHECKING:
    from condensekit.hookspecs import Register


class DigitsParams(BaseModel):
    """Parameters of the digits dataset."""

    model_config = ConfigDict(extra="forbid")
    test_fraction: float = Field(
        0.2, gt=0.0, lt=1.0, description="share of samples held out for the test split"
    )
    split_seed: int = Field(
        0, description="seed of the fixed, stratified train/test split (not the run's seed)"
    )
    standardize: bool = Field(True, description="standardize each pixel with the train split's mean and std")
    image: bool = Field(
        False, description="give inputs as 1x8x8 images (for CNNs/ViTs) instead of 64-vectors"
    )


def load_digits(params: DigitsParams, root: Path) -> Any:
    import torch
    from sklearn.datasets import load_digits as sk_load_digits
    from sklearn.model_selection import train_test_split

    from condensekit.data import DataBundle, DataInfo, standardize

    data = sk_load_digits()
    x_train, x_test, y_train, y_test = train_test_split(
        data.data,
        data.target,
        test_size=params.test_fraction,
        random_state=params.split_seed,
        stratify=data.target,
    )
    xtr, xte = torch.tensor(x_train, dtype=torch.float32), torch.tensor(x_test, dtype=torch.float32)
    if params.standardize:
        xtr, xte = standardize(xtr, xte)
    else:
        xtr, xte = xtr / 16.0, xte / 16.0
    shape: tuple[int, ...] = (64,)
    if params.image:
        shape = (1, 8, 8)
        xtr, xte = xtr.reshape(-1, *shape), xte.reshape(-1, *shape)
    info = DataInfo(input_shape=shape, num_classes=10, name="digits")
    return DataBundle(train=(xtr, torch.tensor(y_train)), test=(xte, torch.tensor(y_test)), info=info)


def digits_info(params: DigitsParams) -> condensekit.DataInfo:
    """The shape and classes of the data, without loading it (for validate-time model checks)."""
    return condensekit.DataInfo(
        input_shape=(1, 8, 8) if params.image else (64,), num_classes=10, name="digits"
    )


@condensekit.hookimpl
def register_datasets(register: Register) -> None:
    register(
        "digits",
        load_digits,
        params=DigitsParams,
        summary="scikit-learn 8x8 digits, offline (64 features or 1x8x8 images, 10 classes)",
        default=True,
        info=digits_info,
    )
