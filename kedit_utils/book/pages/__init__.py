"""What a chapter's page shows beyond its figures: the builder's tables labelled and styled for
display, the texts glued into the prose, the figures (or a "not run" figure) and the results
file, so that the notebook only displays and glues (issue 29 §4, the notebook budget).

* :mod:`.editing_methods`: chapter 7 (Paper C, the survey), from
  :class:`kedit_utils.survey.chapter.EditingMethodsChapter`.
"""
