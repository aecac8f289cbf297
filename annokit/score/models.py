"""The classic models: scikit-learn estimators with fixed seeds.

Box features are standardised and reduced by PCA once for the whole dataset (no labels are
used, so no fold sees another's answers), which keeps the per-fold fits quick on two
cores; then a multinomial logistic regression (probabilities that mean something, which
cleanlab and the box qualities need) or a ridge regression (where a badly placed box
should go). Image features (classification) are only standardised: there PCA lost
flips that the full HOG vector finds (sign_language_digits, baselines/README.md).

Example:
    >>> import numpy as np
    >>> reduce(np.random.default_rng(0).normal(size=(50, 8)), seed=0).shape
    (50, 8)
"""
from __future__ import annotations

import numpy as np


COMPONENTS = 160  # PCA dimensions before the linear models
C_BOXES = 0.5      # inverse regularisation of the box classifier
# ... and of the image (classification) classifier, on all features: what an inner 3-fold
# cross-validation (log loss, C in 0.0003..0.01) on the training folds chose for
# sign_language_digits in every fold; fixed here, as that search costs 10x the fit
C_IMAGES = 0.003


def reduce(features: np.ndarray, seed: int = 0, components: int | None = COMPONENTS
           ) -> np.ndarray:
    """Standardise, then project on the first ``components`` principal axes (float32);
    ``components=None`` only standardises.

    Example:
        >>> reduce(np.eye(4), components=2).shape
        (4, 2)
    """
    from sklearn.decomposition import PCA
    from sklearn.preprocessing import StandardScaler

    x = StandardScaler().fit_transform(np.asarray(features, np.float64))
    if components is None:
        return x.astype(np.float32)
    n = min(components, x.shape[0] - 1, x.shape[1])
    if n < 1:
        return x.astype(np.float32)
    # a fixed count uses the fast randomized SVD; a float would need the full one
    pca = PCA(n, svd_solver="randomized", random_state=seed)
    return pca.fit_transform(x).astype(np.float32)


def box_classifier(seed: int = 0):
    """Classes: the categories, background, badly located.

    Example:
        >>> box_classifier(1).random_state
        1
    """
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=C_BOXES, max_iter=400, random_state=seed)


def box_regressor(seed: int = 0):
    """Offsets from a box to the object it should cover (centre shift, log size ratio).

    Example:
        >>> type(box_regressor()).__name__
        'Ridge'
    """
    from sklearn.linear_model import Ridge

    return Ridge(alpha=10.0)


def image_classifier(seed: int = 0):
    """Single-label image classes from image features.

    Example:
        >>> image_classifier().C
        0.003
    """
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=C_IMAGES, max_iter=500, random_state=seed)
