"""Loading saved models (`mixedfx.load`): the files `Saveable.save` writes (format:
`mixedfx.fitted.saving`) validated field by field (`loading.fields`) and rebuilt through the
fitting code at the stored estimates (`loading.rebuild`)."""

from mixedfx.loading.rebuild import load_model

__all__ = ["load_model"]
